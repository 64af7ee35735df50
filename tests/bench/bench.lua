-- The benchmark (started by tests/bench/run.sh, which builds, starts the simulator and
-- sets the environment): the forum scripts (extracted from the seed at run time, placeholders
-- filled) and our LM scripts, each run as its own LM emulator process, against the same simulator
-- on the same workloads. Prints a table of figures, ratios and targets; writes it as markdown to
-- $BENCH_OUT. Figures are measurements, not assertions: the run fails only when a workload did not
-- do its job (a check-in that added no code, an unlock that opened nothing), since its timing
-- would then mean nothing.
local T = require('testlib')
local K = require('sitekit')
local F = require('forum')
local socket = require('socket')

local env = T.env
local function getenv(k, default)
  local v = os.getenv(k)
  if v == nil or v == '' then return default end
  return v
end

local WORK = assert(getenv('BENCH_DIR'), 'BENCH_DIR is not set (use tests/bench/run.sh)')
local OUT = getenv('BENCH_OUT', WORK .. '/results.md')
local RUNS = tonumber(getenv('BENCH_RUNS', '5'))
local SEED = assert(getenv('TTLOCK_FORUM_SEED'), 'TTLOCK_FORUM_SEED is not set (use tests/bench/run.sh)')
local HOLD_MS, LATENCY_MS = 300, 20     -- the issue's simulator settings
local GATEWAY_OP_S = (HOLD_MS + LATENCY_MS) / 1000
local DAY, HOUR = 86400000, 3600000
local MAIN_DOOR = 2001
local CODE = '48213'
local q = T.q
local interp = env.interp

local function now() return socket.gettime() end
local function now_ms() return math.floor(socket.gettime() * 1000) end

local function median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end

local function max_of(xs)
  local m
  for _, x in ipairs(xs) do if not m or x > m then m = x end end
  return m
end

local function sh(cmd)
  local p = assert(io.popen(cmd .. ' 2>/dev/null'))
  local out = p:read('*a')
  p:close()
  return (out:gsub('%s+$', ''))
end

local function exec_ok(r) return r == true or r == 0 end

local function note(fmt, ...) io.stdout:write(string.format(fmt, ...), '\n') io.stdout:flush() end

---------------------------------------------------------------------------------------------------
-- Simulator states

local function base_state()
  local s = T.fixture()
  s.options.gateway_hold_ms = HOLD_MS
  s.options.latency_ms = LATENCY_MS
  s.gateways, s.locks = {}, {}
  return s
end

local function lock(id, alias, gw)
  return { lock_id = id, alias = alias, gateway_ids = { gw }, battery = 90, open_state = 0,
           remote_unlock = true, passcodes = {}, records = {} }
end

local function period(code, name, start_ms, end_ms, create_ms)
  return { keyboard_pwd = code, name = name, type = 3, start_ms = start_ms, end_ms = end_ms,
           is_custom = true, create_ms = create_ms }
end

-- Check-in and unlock: room 101 on one gateway, the main door on another.
local function two_door_state()
  local s = base_state()
  s.gateways = { { gateway_id = 1, name = 'GW rooms', online = true },
                 { gateway_id = 2, name = 'GW main door', online = true } }
  s.locks = { lock(1001, 'Room 101', 1), lock(MAIN_DOOR, 'Main door', 2) }
  return s
end

-- Extend: the simulator's State::fixture() as it is (room 101 = lock 1001 on gateway 1; room 102 =
-- lock 1002 and the main door 2001 both on gateway 2), with the benchmark's hold and latency.
local function fixture_state()
  local s = T.fixture()
  s.options.gateway_hold_ms = HOLD_MS
  s.options.latency_ms = LATENCY_MS
  return s
end

local function room_no(i) return tostring(100 + i) end
local function ddmm(ms) return os.date('%d%m', math.floor(ms / 1000)) end
local function guest_name(room, s, e) return room .. '_' .. ddmm(s) .. ddmm(e) end

-- Daily purge: 40 room locks, four per gateway on gateways 1..10, each with 5 codes (3 expired more
-- than a day ago, 1 expired 6 hours ago, 1 valid); the main door alone on gateway 11 with 450
-- codes (300 expired more than a day ago, 20 inside the grace day, 30 permanent, 100 valid).
-- Codes are created before their guest arrives, so TTLock's newest-first listing (orderBy=1) shows
-- the valid ones first, then the recently ended ones, then old guests, then the staff codes.
local function purge_state(t)
  local s = base_state()
  for g = 1, 10 do s.gateways[#s.gateways + 1] = { gateway_id = g, name = 'GW floor ' .. g, online = true } end
  s.gateways[#s.gateways + 1] = { gateway_id = 11, name = 'GW entrance', online = true }
  for i = 1, 40 do
    local l = lock(1000 + i, 'Room ' .. room_no(i), math.floor((i - 1) / 4) + 1)
    local room = room_no(i)
    for k = 1, 3 do
      local e = t - (3 * k - 1) * DAY - 2 * HOUR - i * 60000
      local st = e - 3 * DAY
      l.passcodes[#l.passcodes + 1] = period(string.format('%d%02d', 50 + k, i), guest_name(room, st, e), st, e, st - DAY)
    end
    local e = t - 6 * HOUR
    l.passcodes[#l.passcodes + 1] = period(string.format('60%02d', i), guest_name(room, e - 3 * DAY, e), e - 3 * DAY, e, e - 4 * DAY)
    local st = t - DAY
    l.passcodes[#l.passcodes + 1] = period(string.format('70%02d', i), guest_name(room, st, t + 2 * DAY), st, t + 2 * DAY, st - DAY)
    s.locks[#s.locks + 1] = l
  end
  local m = lock(MAIN_DOOR, 'Main door', 11)
  local n = 0
  local function code() n = n + 1 return string.format('%06d', 100000 + n * 37) end
  for k = 1, 300 do
    local e = t - 26 * HOUR - k * 20 * HOUR
    local st = e - 3 * DAY
    m.passcodes[#m.passcodes + 1] = period(code(), guest_name(room_no(k % 40 + 1), st, e), st, e, st - DAY)
  end
  for k = 1, 20 do
    local e = t - k * HOUR
    m.passcodes[#m.passcodes + 1] = period(code(), guest_name(room_no(k % 40 + 1), e - 3 * DAY, e), e - 3 * DAY, e, e - 4 * DAY)
  end
  for k = 1, 30 do
    m.passcodes[#m.passcodes + 1] = { keyboard_pwd = code(), name = 'Staff ' .. k, type = 2, start_ms = 0,
      end_ms = 0, is_custom = true, create_ms = t - 400 * DAY + k * HOUR }
  end
  for k = 1, 100 do
    local st = k <= 30 and (t - DAY) or (t + (k - 30) * 6 * HOUR)
    local e = st + 3 * DAY
    m.passcodes[#m.passcodes + 1] = period(code(), guest_name(room_no(k % 40 + 1), st, e), st, e, t - k * 600000)
  end
  s.locks[#s.locks + 1] = m
  return s
end

---------------------------------------------------------------------------------------------------
-- Sites

local tokens = T.fixture().tokens[1]
local app = T.fixture().app
local cpath = env.cpath

local function room_objects(i, o)
  local ga = string.format('1/%d/%d', math.floor((i - 1) / 16), ((i - 1) % 16) * 16)
  return K.room_block(ga, 1000 + i, room_no(i), o)
end

local function our_config(dir)
  return { client_id = app.client_id, client_secret = app.client_secret, api_base = env.base_url,
           ca_file = env.ca_file, state_dir = dir .. '/state',
           common_doors = { { lock_id = MAIN_DOOR, name = 'Main door' } },
           purge_grace_s = 86400, purge_dry_run = false, cpath = cpath }
end

local function lm_run(o)
  o.interp, o.repo = interp, env.repo
  return K.lm_run(o)
end

-- kind 'forum': tokens in the two objects, as the forum scripts keep them. kind 'ours': tokens in
-- LM storage, as after the user library's one-time migration.
local function make_site(name, kind, objects)
  local dir = WORK .. '/' .. name
  local list = {}
  for _, o in ipairs(objects) do list[#list + 1] = o end
  if kind == 'forum' then
    for _, o in ipairs(K.legacy_token_objects('32/7/0', tokens.access_token, tokens.refresh_token)) do
      list[#list + 1] = o
    end
  end
  K.make_site{ dir = dir, objects = list, interp = interp, repo = env.repo, config = our_config(dir) }
  if kind == 'ours' then
    local setup = dir .. '/setup-tokens.lua'
    K.writefile(setup, 'storage.set(\'ttlock_tokens\', ' .. K.literal({
      access_token = tokens.access_token, refresh_token = tokens.refresh_token,
      expires_at_ms = tokens.access_expires_at_ms }) .. ')\n')
    local code, out = lm_run{ site = dir, script = setup }
    assert(code == 0, 'storing the tokens failed: ' .. tostring(out))
  end
  return dir
end

---------------------------------------------------------------------------------------------------
-- One measured LM process: wall time (fork to exit, as a controller starts an event script), peak
-- RSS (/usr/bin/time), exit status and output.

local function measured(cmd)
  local tfile, ofile = WORK .. '/time.txt', WORK .. '/out.txt'
  os.remove(tfile)
  local full = '/usr/bin/time -f %M -o ' .. q(tfile) .. ' ' .. cmd .. ' >' .. q(ofile) .. ' 2>&1'
  local t0 = now()
  local r = os.execute(full)
  local wall = now() - t0
  local rss
  for line in (K.readfile(tfile) or ''):gmatch('[^\n]+') do rss = tonumber(line) or rss end
  return { wall = wall, rss_kb = rss, ok = exec_ok(r), output = K.readfile(ofile) or '' }
end

local function lm_measured(site, script, event, value)
  local cmd = interp .. ' ' .. q(env.repo .. '/tests/lm/run.lua') .. ' --site ' .. q(site) .. ' --script ' .. q(script)
  if event then cmd = cmd .. ' --event ' .. q(event) .. ' --value ' .. q(K.literal(value)) end
  return measured(cmd)
end

-- Simulator counters of one run: API calls (/v3), token calls, TCP, TLS, busiest gateway.
local function counters()
  local c = T.counters()
  local api, total, per = 0, 0, {}
  for path, n in pairs(c.requests or {}) do
    total = total + n
    if path:find('^/v3/') then api = api + n end
    per[path] = n
  end
  local inflight = 0
  for _, n in pairs(c.max_in_flight_per_gateway or {}) do if n > inflight then inflight = n end end
  return { api = api, requests = total, per = per, tcp = c.tcp_connections, tls = c.tls_handshakes,
           refreshes = c.token_refreshes, busy = c.gateway_busy_sent, inflight = inflight }
end

local function fresh(state)
  T.set_state(state)
  T.reset_counters()
end

local function log_tail(site)
  local t = K.log_text(site)
  return #t > 3000 and ('...' .. t:sub(-3000)) or t
end

local function must(cond, what, site, run)
  if not cond then
    error(string.format('benchmark workload failed: %s\noutput: %s\nlog of %s:\n%s', what,
      run and run.output or '', site, log_tail(site)), 0)
  end
end

---------------------------------------------------------------------------------------------------
-- Workloads

local results = {}
local scripts

local function write_scripts()
  scripts = F.filled(F.scripts(SEED), { client_id = app.client_id, client_secret = app.client_secret,
    main_door = MAIN_DOOR, base_url = env.base_url })
  local dir = WORK .. '/forum-scripts'
  K.mkdir(dir)
  local paths = {}
  for _, k in ipairs({ 'checkin', 'purge', 'unlock' }) do
    paths[k] = dir .. '/' .. ({ checkin = 'passcode_add', purge = 'passcode_purge', unlock = 'unlock_door' })[k] .. '.lua'
    K.writefile(paths[k], scripts[k])
  end
  scripts.paths = paths
end

local OURS = env.repo .. '/lua/scripts/'

-- Process start-up: an empty script through the emulator (Lua, the emulator, the site).
local function bench_startup(site)
  local empty = WORK .. '/empty.lua'
  K.writefile(empty, '-- nothing\n')
  local walls = {}
  for _ = 1, RUNS do walls[#walls + 1] = lm_measured(site, empty).wall end
  results.startup = median(walls)
  note('process start-up (empty LM script): median %.3f s of %d', results.startup, RUNS)
end

local function count_code_on(state, lock_id)
  local n = 0
  local l = K.lock(state, lock_id)
  for _, p in ipairs((l and l.passcodes) or {}) do
    if tostring(p.keyboard_pwd) == CODE then n = n + 1 end
  end
  return n
end

-- Runs fn(side) RUNS times for both sides, alternating, each on a fresh simulator state.
local function repeated(name, state_fn, run_fn, verify)
  local per = { forum = { walls = {}, rss = {} }, ours = { walls = {}, rss = {} } }
  for r = 1, RUNS do
    for _, side in ipairs({ 'forum', 'ours' }) do
      fresh(state_fn())
      local run, site = run_fn(side)
      must(run.ok, name .. ' (' .. side .. ') exited with an error', site, run)
      local c = counters()
      verify(side, run, site)
      local p = per[side]
      p.walls[#p.walls + 1] = run.wall
      p.rss[#p.rss + 1] = run.rss_kb or 0
      if r == 1 then p.first = c; p.first_wall = run.wall end
      p.last = c
    end
    note('%s run %d/%d: forum %.3f s, ours %.3f s', name, r, RUNS, per.forum.walls[r], per.ours.walls[r])
  end
  for _, side in ipairs({ 'forum', 'ours' }) do
    local p = per[side]
    p.wall = median(p.walls)
    p.rss_max = max_of(p.rss)
  end
  return per
end

local function bench_checkin()
  local from, to = K.at(1, 15), K.at(3, 11)
  local objs = room_objects(1, { code = CODE, from = from, to = to })
  local forum_site = make_site('checkin-forum', 'forum', objs)
  local our_site = make_site('checkin-ours', 'ours', objs)
  local forget_stay = WORK .. '/forget-stay.lua'
  K.writefile(forget_stay, "storage.delete('ttlock_stay_101')\n")
  bench_startup(our_site)
  results.checkin = repeated('check-in', two_door_state, function(side)
    if side == 'forum' then return lm_measured(forum_site, scripts.paths.checkin, '1/0/0', true), forum_site end
    -- A new stay on every run, as on the fresh simulator state: the room's stay memory of the run
    -- before (LM storage) goes first, not timed. The gateway map in state_dir is kept.
    local code, out = lm_run{ site = our_site, script = forget_stay }
    must(code == 0, 'forgetting the stay of room 101 failed: ' .. tostring(out), our_site)
    return lm_measured(our_site, OURS .. 'passcode_event.lua', '1/0/0', true), our_site
  end, function(side, run, site)
    local st = T.get_state()
    local doors = count_code_on(st, 1001) + count_code_on(st, MAIN_DOOR)
    must(doors == 2, 'check-in (' .. side .. ') put the code on ' .. doors .. ' of 2 doors', site, run)
  end)
end

local function bench_unlock()
  local objs = { K.unlock_object('2/1/0', MAIN_DOOR, 'Main door unlock') }
  local forum_site = make_site('unlock-forum', 'forum', objs)
  local our_site = make_site('unlock-ours', 'ours', objs)
  results.unlock = repeated('unlock', two_door_state, function(side)
    if side == 'forum' then return lm_measured(forum_site, scripts.paths.unlock, '2/1/0', true), forum_site end
    return lm_measured(our_site, OURS .. 'unlock_event.lua', '2/1/0', true), our_site
  end, function(side, run, site)
    local l = K.lock(T.get_state(), MAIN_DOOR)
    must(l and l.open_state == 1, 'unlock (' .. side .. ') left the main door shut', site, run)
  end)
end

-- Extend: switching +0 on again for a room with a live stay and a later departure in +5/+6
-- changes the window of the stay's code on the room lock and the main door (keyboardPwd/change
-- through each door's gateway; the two doors are on different gateways, so at the same time).
-- Room 101 (lock 1001, gateway 1) and the site's common door, the main door (2001, gateway 2).
-- The check-in before it is not timed; each repetition moves the departure one day later. The
-- reference is one gateway operation plus start-up, measured: a process through the same
-- emulator and site that does one ttlock.change_passcode of the window on lock 1001 (the window
-- the extend just set, so the stay memory stays true), alternating with the extends.
local function bench_extend()
  local room, lock_id, trigger = '101', 1001, '1/0/0'
  local from, to = K.at(1, 15), K.at(3, 11)
  local site = make_site('extend-ours', 'ours', room_objects(1, { code = CODE, from = from, to = to }))
  local status_ga, departure_ga = K.ga_add(trigger, 9), K.ga_add(trigger, 5)
  local event_script = OURS .. 'passcode_event.lua'
  local function dump() return K.dump(lm_run, site, { 'ttlock_stay_' .. room }) end
  local function window_on(st, id)
    local p = K.passcode_by_code(K.lock(st, id), CODE)
    return p and p.start_ms, p and p.end_ms, p and p.keyboard_pwd_id
  end
  fresh(fixture_state())
  local ci = lm_measured(site, event_script, trigger, true)
  local d = dump()
  must(ci.ok and d.storage['ttlock_stay_' .. room] ~= nil, 'extend: the check-in before it did not leave a stay ('
    .. tostring(d.values[status_ga]) .. ')', site, ci)
  local ci_c = counters()
  note('extend: check-in before it (not timed) %.3f s, %s', ci.wall, tostring(d.values[status_ga]))
  local x = { walls = {}, ref_walls = {}, rss = {}, runs = {}, checkin = ci_c }
  local setter, ref_script = WORK .. '/extend-departure.lua', WORK .. '/extend-reference.lua'
  for r = 1, RUNS do
    -- The new departure (not timed): +5 one day later than the run before, +6 unchanged (11:00).
    local dep = K.at(3 + r, 11)
    local dep_date = K.date_time(dep)
    K.writefile(setter, 'grp.update(' .. K.literal(departure_ga) .. ', ' .. K.literal(dep_date) .. ')\n')
    local code, out = lm_run{ site = site, script = setter }
    must(code == 0, 'extend: setting the departure failed: ' .. tostring(out), site)
    T.reset_counters()
    local run = lm_measured(site, event_script, trigger, true)
    local c = counters()
    d = dump()
    local status = tostring(d.values[status_ga])
    must(run.ok and status:find('^Stay extended:'), 'extend run ' .. r .. ' did not extend: ' .. status, site, run)
    local st = T.get_state()
    local want = dep * 1000
    local f1, e1, id1 = window_on(st, lock_id)
    local _, e2 = window_on(st, MAIN_DOOR)
    must(e1 == want and e2 == want, string.format('extend run %d: the doors end at %s / %s, not %.0f', r,
      tostring(e1), tostring(e2), want), site, run)
    x.walls[r], x.rss[r], x.runs[r] = run.wall, run.rss_kb or 0, c
    x.status = status
    -- The reference: one change_passcode of lock 1001's window, in its own process.
    K.writefile(ref_script, string.format([[
-- One gateway operation through the LM library's module: the reference of the extend line.
local lib = require('user.ttlock')
local ok, err = lib.module().change_passcode{ lock_id = %d, passcode_id = %.0f, valid_from_ms = %.0f, valid_to_ms = %.0f }
if not ok then error('change_passcode failed: ' .. lib.describe_error(err)) end
]], lock_id, id1, f1, e1))
    T.reset_counters()
    local ref = lm_measured(site, ref_script)
    must(ref.ok, 'extend reference (change_passcode) failed', site, ref)
    x.ref_walls[r], x.ref_last = ref.wall, counters()
    note('extend run %d/%d: extend %.3f s (%d API calls), one change_passcode %.3f s (%d API calls)', r, RUNS,
      run.wall, c.api, ref.wall, x.ref_last.api)
  end
  x.wall, x.ref_wall, x.rss_max = median(x.walls), median(x.ref_walls), max_of(x.rss)
  x.last = x.runs[#x.runs]
  note('extend: median %.3f s; one gateway operation plus start-up (one change_passcode process): median %.3f s;'
    .. ' ratio %.2f (target: within 1.2x)', x.wall, x.ref_wall, x.wall / x.ref_wall)
  results.extend = x
end

-- Codes of a state classified against a purge that started at t with a grace of `grace` ms.
local function census(state, t, grace)
  local c = { total = 0, expired = 0, in_grace = 0, ids = {} }
  for _, l in ipairs(state.locks or {}) do
    for _, p in ipairs(l.passcodes or {}) do
      c.total = c.total + 1
      local key = string.format('%d/%d', l.lock_id, p.keyboard_pwd_id)
      local kind = 'keep'
      if p.type ~= 2 and (p.end_ms or 0) > 0 and p.end_ms < t then
        if p.end_ms < t - grace then kind = 'expired' else kind = 'in_grace' end
      end
      c.ids[key] = kind
      if kind == 'expired' then c.expired = c.expired + 1 elseif kind == 'in_grace' then c.in_grace = c.in_grace + 1 end
    end
  end
  return c
end

-- One purge run on the simulator's current state: figures, and what it removed against `census`.
local function purge_run(label, site, script, grace)
  local t = now_ms()
  T.reset_counters()
  local before = census(T.get_state(), t, grace)
  note('purge (%s): %d codes on 41 locks, %d past the grace; running...', label, before.total, before.expired)
  local run = lm_measured(site, script)
  must(run.ok, 'purge (' .. label .. ') exited with an error', site, run)
  local c = counters()
  local after = census(T.get_state(), t, grace)
  local wrong = 0
  for k, kind in pairs(before.ids) do
    if after.ids[k] == nil and kind ~= 'expired' then wrong = wrong + 1 end
  end
  local res = { wall = run.wall, rss_max = run.rss_kb or 0, last = c, removed = before.total - after.total,
                expired_left = after.expired, in_grace_left = after.in_grace, wrong = wrong,
                expired_before = before.expired }
  note('purge (%s): %.1f s, %d removed, %d expired left, %d API calls, %d TLS handshakes', label, run.wall,
    res.removed, res.expired_left, c.api, c.tls)
  return res
end

local function bench_purge()
  local objs = {}
  for i = 1, 40 do
    for _, o in ipairs(room_objects(i, { code = '' })) do objs[#objs + 1] = o end
  end
  local sites = { forum = make_site('purge-forum', 'forum', objs), ours = make_site('purge-ours', 'ours', objs) }
  results.purge = {}
  for _, side in ipairs({ 'forum', 'ours' }) do
    T.set_state(purge_state(now_ms()))
    local script = side == 'forum' and scripts.paths.purge or (OURS .. 'purge_scheduled.lua')
    results.purge[side] = purge_run(side, sites[side], script, DAY)
  end
  -- The next day (ours only): the codes that were inside the grace day are past it now. Run with
  -- purge_grace_s = 0 on the state the first run left, so the module takes its ledger path (the
  -- full listing of the first run is less than a week old) instead of listing every lock.
  local cfg = our_config(sites.ours)
  cfg.purge_grace_s = 0
  K.write_config(sites.ours, cfg)
  results.purge_next = purge_run('ours, next day', sites.ours, OURS .. 'purge_scheduled.lua', 0)
end

---------------------------------------------------------------------------------------------------
-- Cold start of an event process, in instructions (callgrind) and wall time.

local function callgrind(name, cmd)
  local log = WORK .. '/' .. name .. '.callgrind.log'
  local full = 'valgrind --tool=callgrind --callgrind-out-file=' .. q(WORK .. '/' .. name .. '.callgrind.out')
    .. ' ' .. cmd .. ' >/dev/null 2>' .. q(log)
  local r = os.execute(full)
  local text = K.readfile(log) or ''
  local n = text:match('Collected%s*:%s*([%d,]+)')
  assert(exec_ok(r) and n, 'callgrind run ' .. name .. ' failed:\n' .. text:sub(-2000))
  return tonumber((n:gsub(',', '')))
end

local function bench_cold()
  fresh(two_door_state())
  local our_script = WORK .. '/cold-ours.lua'
  K.writefile(our_script, [[
-- Start Lua, require the module, configure, build the client, first TLS handshake (one listing).
local cpath, base, ca, dir, at, rt, exp = ...
package.cpath = cpath .. ';' .. package.cpath
local ttlock = require('ttlock')
ttlock.configure{ client_id = 'cid-test', client_secret = 'csecret-test', api_base = base, ca_file = ca,
  state_dir = dir, token_store = { load = function() return { access_token = at, refresh_token = rt,
  expires_at_ms = tonumber(exp) } end, save = function() end } }
local list, err = ttlock.list_passcodes{ lock_id = 1001 }
assert(list, tostring(err))
]])
  local forum_script = WORK .. '/cold-forum.lua'
  K.writefile(forum_script, [[
-- The forum scripts' path: start Lua, require ssl.https, one HTTPS request (the purge's listing).
local base, at = ...
local https = require('ssl.https')
local url = base .. '/v3/lock/listKeyboardPwd?clientId=cid-test&accessToken=' .. at
  .. '&lockId=1001&pageNo=1&pageSize=200&orderBy=1&date=' .. string.format('%.0f', os.time() * 1000)
local body, code = https.request(url)
assert(code == 200 and body:find('"list"'), tostring(code) .. ' ' .. tostring(body))
]])
  local empty = WORK .. '/cold-empty.lua'
  K.writefile(empty, '-- Lua alone\n')
  local our_cmd = interp .. ' ' .. q(our_script) .. ' ' .. q(cpath) .. ' ' .. q(env.base_url) .. ' ' .. q(env.ca_file)
    .. ' ' .. q(WORK .. '/cold-state') .. ' ' .. q(tokens.access_token) .. ' ' .. q(tokens.refresh_token)
    .. ' ' .. string.format('%.0f', tokens.access_expires_at_ms)
  local forum_cmd = interp .. ' ' .. q(forum_script) .. ' ' .. q(env.base_url) .. ' ' .. q(tokens.access_token)
  local c = { walls = { ours = {}, forum = {} }, rss = { ours = {}, forum = {} } }
  for _ = 1, RUNS do
    for side, cmd in pairs({ ours = our_cmd, forum = forum_cmd }) do
      local r = measured(cmd)
      assert(r.ok, 'cold start (' .. side .. ') failed: ' .. r.output)
      table.insert(c.walls[side], r.wall)
      table.insert(c.rss[side], r.rss_kb or 0)
    end
  end
  c.wall = { ours = median(c.walls.ours), forum = median(c.walls.forum) }
  c.rss_max = { ours = max_of(c.rss.ours), forum = max_of(c.rss.forum) }
  if getenv('BENCH_CALLGRIND', '1') ~= '0' then
    note('cold start under callgrind (slow)...')
    c.instr = { lua = callgrind('lua', interp .. ' ' .. q(empty)), ours = callgrind('ours', our_cmd),
                forum = callgrind('forum', forum_cmd) }
  end
  results.cold = c
end

---------------------------------------------------------------------------------------------------
-- Module sizes

local function so_sizes()
  local out = {}
  local function add(label, path, triple)
    local size = tonumber(sh('stat -c %s ' .. q(path)))
    if not size then return end
    local sections = sh('readelf -S -W ' .. q(path))
    out[#out + 1] = { label = label, triple = triple, size = size,
      stripped = not (sections:find('%.symtab') or sections:find('%.debug_')),
      date = sh('date -u -r ' .. q(path) .. ' "+%Y-%m-%d %H:%M"'),
      arm = triple ~= nil and (triple:find('^arm') ~= nil or triple:find('^aarch64') ~= nil) }
  end
  local host_target = getenv('CARGO_TARGET_DIR', env.repo .. '/target')
  if host_target:sub(1, 1) ~= '/' then host_target = env.repo .. '/' .. host_target end
  add('host (x86_64 glibc, cargo build --release)', host_target .. '/release/libttlock.so', nil)
  for _, t in ipairs({ 'armv7-unknown-linux-musleabihf', 'armv5te-unknown-linux-musleabi',
                        'aarch64-unknown-linux-musl', 'x86_64-unknown-linux-musl' }) do
    add(t, env.repo .. '/target/' .. t .. '/release/libttlock.so', t)
  end
  results.sizes = out
end

---------------------------------------------------------------------------------------------------
-- Report

local lines = {}
local function emit(s) lines[#lines + 1] = s print(s) end

local function ratio(a, b) if not a or not b or b == 0 then return 'n/a' end return string.format('%.2f', a / b) end
local function secs(x) return x and string.format('%.2f s', x) or 'n/a' end
local function mib(kb) return kb and string.format('%.1f MiB', kb / 1024) or 'n/a' end

local function machine()
  local cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-"):gsub('^%s+', '')
  local mem = tonumber(sh("awk '/MemTotal/{print $2}' /proc/meminfo")) or 0
  return string.format('%s, nproc %s, %.1f GiB RAM, %s; Lua host `%s`', cpu, sh('nproc'), mem / 1048576,
    sh('uname -sr'), interp)
end

local function max_workers()
  local src = K.readfile(env.repo .. '/src/host/mod.rs') or ''
  return tonumber(src:match('pub const MAX_WORKERS: usize = (%d+)'))
end

-- Calls a day of a 40-room hotel at 80 % occupancy through the LM scripts (door events, the
-- day's check-ins and check-outs, the purge), against a 5,000-call month.
local function bench_hotel_day()
  local H = require('hotelday')
  local f = H.day(5000)
  must(f.polls > 0 and f.arrivals > 0, 'the hotel day polled and found arrivals', f.dir)
  results.hotel = f
  results.hotel_text = H.text(f)
  note('hotel day: %s', results.hotel_text)
end

local function report()
  local ck, ul, pg, cold = results.checkin, results.unlock, results.purge, results.cold
  local workers = max_workers()
  local checkin_limit = GATEWAY_OP_S + results.startup
  local unlock_limit = GATEWAY_OP_S + results.startup
  -- The busiest gateway: the main door's 300 expired codes, one delete at a time.
  local busiest_deletes = 300
  local purge_limit = busiest_deletes * GATEWAY_OP_S

  emit('')
  emit(string.format('## Benchmark: forum scripts vs ours (%s)', os.date('!%Y-%m-%d %H:%M UTC')))
  emit('')
  emit('Machine: ' .. machine() .. '.')
  emit(string.format('Simulator: gateway operations hold their gateway %d ms, %d ms added per request. '
    .. 'Check-in and unlock: median of %d runs each (forum and ours alternating, fresh simulator state per run); '
    .. 'extend: the same number of runs, alternating with its reference, on the state its check-in left.',
    HOLD_MS, LATENCY_MS, RUNS))
  emit('')
  emit('| workload | figure | forum | ours | ours/forum | physical limit | ours/limit |')
  emit('| --- | --- | ---: | ---: | ---: | ---: | ---: |')
  local function row(w, f, a, b, r, lim, rl) emit(string.format('| %s | %s | %s | %s | %s | %s | %s |', w, f, a, b, r, lim or '', rl or '')) end
  row('check-in', 'wall time', secs(ck.forum.wall), secs(ck.ours.wall), ratio(ck.ours.wall, ck.forum.wall),
    secs(checkin_limit), ratio(ck.ours.wall, checkin_limit))
  row('check-in', 'API calls (first run / later runs)', ck.forum.first.api .. ' / ' .. ck.forum.last.api,
    ck.ours.first.api .. ' / ' .. ck.ours.last.api, '', '2', '')
  row('check-in', 'TCP connections / TLS handshakes', ck.forum.last.tcp .. ' / ' .. ck.forum.last.tls,
    ck.ours.last.tcp .. ' / ' .. ck.ours.last.tls, '', '', '')
  row('check-in', 'doors given the code', '2 of 2', '2 of 2', '', '', '')
  row('check-in', 'peak RSS', mib(ck.forum.rss_max), mib(ck.ours.rss_max), ratio(ck.ours.rss_max, ck.forum.rss_max), '', '')
  row('unlock', 'wall time', secs(ul.forum.wall), secs(ul.ours.wall), ratio(ul.ours.wall, ul.forum.wall),
    secs(unlock_limit), ratio(ul.ours.wall, unlock_limit))
  row('unlock', 'API calls', ul.forum.last.api, ul.ours.last.api, '', '1', '')
  row('unlock', 'TCP connections / TLS handshakes', ul.forum.last.tcp .. ' / ' .. ul.forum.last.tls,
    ul.ours.last.tcp .. ' / ' .. ul.ours.last.tls, '', '', '')
  row('unlock', 'peak RSS', mib(ul.forum.rss_max), mib(ul.ours.rss_max), ratio(ul.ours.rss_max, ul.forum.rss_max), '', '')
  local ex = results.extend
  row('extend', 'wall time (limit: one change_passcode process, median)', '', secs(ex.wall), '',
    secs(ex.ref_wall), ratio(ex.wall, ex.ref_wall))
  row('extend', 'API calls (check-in before it / each extend / reference)', '',
    ex.checkin.api .. ' / ' .. ex.last.api .. ' / ' .. ex.ref_last.api, '', '2 / 1', '')
  row('extend', 'TCP connections / TLS handshakes', '', ex.last.tcp .. ' / ' .. ex.last.tls, '', '', '')
  row('extend', 'most requests at one gateway at once', '', ex.last.inflight, '', '1', '')
  row('extend', 'peak RSS', '', mib(ex.rss_max), '', '', '')
  local fpr, opr
  if pg then
  row('purge', 'wall time', secs(pg.forum.wall), secs(pg.ours.wall), ratio(pg.ours.wall, pg.forum.wall),
    secs(purge_limit), ratio(pg.ours.wall, purge_limit))
  row('purge', 'codes removed', pg.forum.removed, pg.ours.removed, '', tostring(pg.ours.expired_before), '')
  row('purge', 'expired codes left (ended > 1 day before)', pg.forum.expired_left, pg.ours.expired_left, '', '0', '')
  row('purge', 'in-grace codes left / wrongly removed', pg.forum.in_grace_left .. ' / ' .. pg.forum.wrong,
    pg.ours.in_grace_left .. ' / ' .. pg.ours.wrong, '', '60 / 0', '')
  row('purge', 'API calls', pg.forum.last.api, pg.ours.last.api, ratio(pg.ours.last.api, pg.forum.last.api), '', '')
  fpr = pg.forum.removed > 0 and pg.forum.last.api / pg.forum.removed or nil
  opr = pg.ours.removed > 0 and pg.ours.last.api / pg.ours.removed or nil
  row('purge', 'API calls per removed code', fpr and string.format('%.2f', fpr) or 'n/a',
    opr and string.format('%.2f', opr) or 'n/a', '', '1.00', opr and string.format('%.2f', opr) or '')
  row('purge', 'TCP connections / TLS handshakes', pg.forum.last.tcp .. ' / ' .. pg.forum.last.tls,
    pg.ours.last.tcp .. ' / ' .. pg.ours.last.tls, '', string.format('%d', workers + 1), '')
  row('purge', 'most requests at one gateway at once', pg.forum.last.inflight, pg.ours.last.inflight, '', '1', '')
  row('purge', 'peak RSS', mib(pg.forum.rss_max), mib(pg.ours.rss_max), ratio(pg.ours.rss_max, pg.forum.rss_max), '', '')
  local nx = results.purge_next
  local npr = nx.removed > 0 and nx.last.api / nx.removed or nil
  row('purge, next day (ours only)', 'wall time / codes removed / expired left', '',
    string.format('%.2f s / %d / %d', nx.wall, nx.removed, nx.expired_left), '', '', '')
  row('purge, next day (ours only)', 'API calls / per removed code / TLS handshakes', '',
    string.format('%d / %s / %d', nx.last.api, npr and string.format('%.2f', npr) or 'n/a', nx.last.tls), '', '', '')
  end
  if cold.instr then
    row('cold start', 'instructions (callgrind; Lua alone: ' .. string.format('%.1f M', cold.instr.lua / 1e6) .. ')',
      string.format('%.1f M', cold.instr.forum / 1e6), string.format('%.1f M', cold.instr.ours / 1e6),
      ratio(cold.instr.ours, cold.instr.forum), '', '')
  end
  row('cold start', 'wall time (median)', secs(cold.wall.forum), secs(cold.wall.ours), ratio(cold.wall.ours, cold.wall.forum), '', '')
  row('cold start', 'peak RSS', mib(cold.rss_max.forum), mib(cold.rss_max.ours), ratio(cold.rss_max.ours, cold.rss_max.forum), '', '')
  if results.hotel then
    local f = results.hotel
    row('door events, 40 rooms at 80 %', 'API calls a day (budget 5,000 a month)', '', string.format('%.0f', f.total), '',
      string.format('%.0f', f.budget / 30), ratio(f.total, f.budget / 30))
  end
  emit('')
  emit('Physical limits: check-in and unlock = one gateway operation (' .. string.format('%.2f', GATEWAY_OP_S)
    .. ' s: hold + latency) + process start-up (' .. string.format('%.3f s', results.startup) .. ', an empty LM script through the emulator, median);'
    .. ' extend = one gateway operation plus start-up, measured: a process through the same emulator and site doing one'
    .. ' ttlock.change_passcode of the window on one lock (median ' .. string.format('%.3f s', results.extend.ref_wall) .. ');'
    .. ' purge = the busiest gateway\'s serial time (main door: 300 deletes x ' .. string.format('%.2f', GATEWAY_OP_S) .. ' s).')
  emit('')
  local function endpoints(c)
    local keys = {}
    for k in pairs(c.per) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = string.format('%s %d', k, c.per[k]) end
    return table.concat(parts, ', ')
  end
  if pg then
    emit('Purge requests by endpoint: forum: ' .. endpoints(pg.forum.last) .. '; ours: ' .. endpoints(pg.ours.last) .. '.')
    emit('Next day (ours, the first run\'s 60 in-grace codes now past the grace, purge_grace_s = 0): '
      .. endpoints(results.purge_next.last) .. '.')
  else
    emit('Purge not run (BENCH_ONLY=quick).')
  end
  emit('Check-in requests by endpoint, ours: first run ' .. endpoints(ck.ours.first) .. '; later runs ' .. endpoints(ck.ours.last) .. '.')
  emit('Extend (room 101 on gateway 1, main door on gateway 2; departure one day later each run), requests by'
    .. ' endpoint: check-in before it ' .. endpoints(ex.checkin) .. '; last extend ' .. endpoints(ex.last)
    .. '; reference (one change_passcode) ' .. endpoints(ex.ref_last) .. '. Last status: ' .. ex.status)
  emit('')
  if results.hotel_text then
    emit('Door events (tests/lua/hotelday.lua: 32 guests in, a day of the resident script in half-hour spans,'
      .. ' 11 check-outs, 11 check-ins, the purge): ' .. results.hotel_text .. '.')
    emit('')
  end
  emit('Module size (`target/<triple>/release/libttlock.so`):')
  emit('')
  emit('| build | size | stripped | built (UTC) |')
  emit('| --- | ---: | --- | --- |')
  for _, s in ipairs(results.sizes) do
    emit(string.format('| %s | %d B (%.2f MiB) | %s | %s |', s.label, s.size, s.size / 1048576, s.stripped and 'yes' or 'no', s.date))
  end
  emit('')

  local targets = {}
  local function target(name, value, met) targets[#targets + 1] = { name, value, met } end
  target('check-in at least 2x faster than the forum script', string.format('%.2fx', ck.forum.wall / ck.ours.wall),
    ck.forum.wall / ck.ours.wall >= 2)
  target('check-in within 1.2x of its physical limit', string.format('%.2fx', ck.ours.wall / checkin_limit),
    ck.ours.wall <= 1.2 * checkin_limit)
  target('extend within 1.2x of one gateway operation plus start-up (one change_passcode process)',
    string.format('%.2fx (%.2f s vs %.2f s)', ex.wall / ex.ref_wall, ex.wall, ex.ref_wall), ex.wall <= 1.2 * ex.ref_wall)
  if pg then
  target('purge leaves no expired code', tostring(pg.ours.expired_left) .. ' left (forum: ' .. pg.forum.expired_left .. ')',
    pg.ours.expired_left == 0 and pg.ours.wrong == 0)
  target('purge within 1.2x of the busiest gateway\'s serial time', string.format('%.2fx', pg.ours.wall / purge_limit),
    pg.ours.wall <= 1.2 * purge_limit)
  target('purge at most 1.15 API calls per removed code', opr and string.format('%.2f', opr) or 'n/a', opr ~= nil and opr <= 1.15)
  target(string.format('purge opens at most workers + 1 = %d TLS connections', workers + 1), tostring(pg.ours.last.tls),
    pg.ours.last.tls <= workers + 1)
  end
  if cold.instr then
    target('cold start below LuaSec\'s (instructions)', string.format('%.1f M vs %.1f M', cold.instr.ours / 1e6, cold.instr.forum / 1e6),
      cold.instr.ours < cold.instr.forum)
  end
  local arm_seen = false
  for _, s in ipairs(results.sizes) do
    if s.arm then
      arm_seen = true
      target(s.triple .. ' build at most 2.5 MiB', string.format('%.2f MiB%s', s.size / 1048576, s.stripped and '' or ' (not stripped)'),
        s.size <= 2.5 * 1048576)
    end
  end
  if not arm_seen then target('ARM builds at most 2.5 MiB', 'no ARM build found (run cross/build.sh all)', false) end
  emit('| target | measured | |')
  emit('| --- | --- | --- |')
  for _, t in ipairs(targets) do emit(string.format('| %s | %s | %s |', t[1], t[2], t[3] and 'met' or '**missed**')) end
  emit('')
  K.writefile(OUT, table.concat(lines, '\n') .. '\n')
  print('(written to ' .. OUT .. ')')
end

---------------------------------------------------------------------------------------------------

local t0 = now()
write_scripts()
local only = getenv('BENCH_ONLY', '')
note('benchmark in %s (%s); runs per event workload: %d', WORK, interp, RUNS)
bench_checkin()
bench_unlock()
bench_extend()
if only ~= 'quick' then bench_purge() end
bench_cold()
so_sizes()
bench_hotel_day()
if only == 'quick' then note('BENCH_ONLY=quick: purge skipped') end
report()
note('benchmark took %.0f s', now() - t0)
