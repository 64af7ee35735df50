-- Concurrency: 8 LM event processes check in 8 rooms at the same moment, each a separate
-- OS process running the real lua/scripts/passcode_event.lua through the LM emulator on one site
-- (one controller: one LM storage, one state_dir). The 8 room locks and the main door all sit
-- behind one gateway, and TTLock has expired the access token that storage still holds. Every
-- guest must end with both codes, TTLock must see exactly one refresh, and the processes take
-- turns at the gateway (state_dir/gateway-<id>.lock): it never sees two operations at once, so
-- it never answers "busy". Once with a gateway that takes a second per operation (a real one
-- takes seconds: 16 operations then outlast the busy retries of processes that do not take
-- turns), once with the simulator's 300 ms and a token storage knows has expired.
local T = require('testlib')
package.path = T.env.repo .. '/tests/lm/?.lua;' .. package.path
local K = require('sitekit')

local SCRIPT = T.env.repo .. '/lua/scripts/passcode_event.lua'
local FIX = T.fixture()
local N = 8

local function room_lock(i) return 3000 + i end
local function room_ga(i) return string.format('32/1/%d', (i - 1) * 10) end
local function room_code(i) return string.format('%d', 48213 + 1379 * i) end
local function room_window(i) return K.at(1, 14), K.at(3 + i % 3, 11) end

-- The window as the +9 status shows it.
local function window_text(i)
  local from, to = room_window(i)
  local fd, ft = K.date_time(from)
  local td, tt = K.date_time(to)
  return string.format('%02d.%02d %02d:%02d\226\128\147%02d.%02d %02d:%02d', fd.day, fd.month, ft.hour,
    ft.minute, td.day, td.month, tt.hour, tt.minute)
end

-- The fixture plus 8 room locks on the main door's gateway, which holds each operation hold_ms.
local function state(hold_ms)
  local st = T.fixture()
  st.options.gateway_hold_ms = hold_ms
  for i = 1, N do
    st.locks[#st.locks + 1] = { lock_id = room_lock(i), alias = 'Room 30' .. i, gateway_ids = { 2 },
      battery = 90, open_state = 0, remote_unlock = true, passcodes = {}, records = {} }
  end
  return st
end

local function site(name)
  local objects = {}
  for i = 1, N do
    local from, to = room_window(i)
    for _, o in ipairs(K.room_block(room_ga(i), room_lock(i), '30' .. i,
        { code = room_code(i), from = from, to = to })) do
      objects[#objects + 1] = o
    end
  end
  local dir = T.tmpdir() .. '/' .. name
  K.make_site{ dir = dir, objects = objects, interp = T.env.interp, repo = T.env.repo, config = {
    client_id = FIX.app.client_id, client_secret = FIX.app.client_secret,
    api_base = T.env.base_url, ca_file = T.env.ca_file, state_dir = dir .. '/state',
    common_doors = { { lock_id = 2001, name = 'Main door' } },
    cpath = T.env.cpath,
  } }
  return dir
end

local function lm_run(o)
  local code, out = T.lm_run(o)
  return code, out or ''
end

-- The fixture's tokens in LM storage, as a site that has been running for a while has them.
local function seed_tokens(dir, expires_at_ms)
  local seed = dir .. '/seed-storage.lua'
  K.writefile(seed, string.format(
    'storage.set(%q, { access_token = %q, refresh_token = %q, expires_at_ms = %.0f })\n',
    'ttlock_tokens', FIX.tokens[1].access_token, FIX.tokens[1].refresh_token, expires_at_ms))
  local code, out = lm_run{ site = dir, script = seed }
  T.eq(code, 0, 'storage seeded: ' .. out)
end

-- Starts every room's check-in as its own process, all released by one file at the same moment;
-- returns the exit status and output of each and the wall time.
local function check_in_all(dir)
  local go = dir .. '/go'
  local cmd = ''
  for i = 1, N do
    local args = '--site ' .. T.q(dir) .. ' --script ' .. T.q(SCRIPT) .. ' --event ' .. T.q(room_ga(i))
      .. ' --value true'
    local lua = T.lua_cmd(T.env.repo .. '/tests/lm/run.lua', args)
    cmd = cmd .. string.format('( while [ ! -e %s ]; do sleep 0.01; done; %s > %s 2>&1; echo $? > %s ) & ',
      T.q(go), lua, T.q(dir .. '/out-' .. i), T.q(dir .. '/rc-' .. i))
  end
  local p = assert(io.popen(cmd .. 'wait; echo all-done', 'r'))
  local t0 = os.time()
  T.write_file(go, '')
  local tail = p:read('*a')
  p:close()
  T.eq(tail, 'all-done\n', 'the shell waited for every process')
  local runs = {}
  for i = 1, N do
    runs[i] = { rc = tonumber(T.read_file(dir .. '/rc-' .. i)), out = T.read_file(dir .. '/out-' .. i) or '' }
  end
  return runs, os.time() - t0
end

local function check_outcome(dir, runs, st, label)
  local d = K.dump(lm_run, dir, { 'ttlock_tokens' })
  local log = K.log_text(dir)
  local main = K.lock(st, 2001)
  for i = 1, N do
    T.eq(runs[i].rc, 0, label .. ': process ' .. i .. ' exit status; output: ' .. runs[i].out)
    local code = room_code(i)
    local room = K.lock(st, room_lock(i))
    T.eq(#room.passcodes, 1, label .. ': room ' .. i .. ' holds one code')
    local on_room = K.passcode_by_code(room, code)
    local on_main = K.passcode_by_code(main, code)
    T.ok(on_room, label .. ': guest ' .. i .. ' code on the room lock; +9: ' .. tostring(d.values[K.ga_add(room_ga(i), 9)]))
    T.ok(on_main, label .. ': guest ' .. i .. ' code on the main door; +9: ' .. tostring(d.values[K.ga_add(room_ga(i), 9)]))
    local from, to = room_window(i)
    T.eq({ on_room.start_ms, on_room.end_ms }, { from * 1000, to * 1000 }, label .. ': window on the room')
    T.eq({ on_main.start_ms, on_main.end_ms }, { from * 1000, to * 1000 }, label .. ': window on the main door')
    T.eq(d.values[K.ga_add(room_ga(i), 8)], on_room.keyboard_pwd_id, label .. ': +8 of room ' .. i)
    local status = d.values[K.ga_add(room_ga(i), 9)]
    T.eq(status, string.format('Room 30%d: code %s active %s (id %d); Main door: ok (id %d)', i, code,
      window_text(i), on_room.keyboard_pwd_id, on_main.keyboard_pwd_id),
      label .. ': +9 of room ' .. i)
  end
  T.eq(#main.passcodes, N, label .. ': the main door holds one code per guest')
  T.ok(not log:find('gateway busy', 1, true), label .. ': a busy gateway reached the log as a failure:\n' .. log)
  T.eq(K.alert_text(dir), '', label .. ': no alert')
  local c = T.counters()
  T.eq(c.gateway_busy_sent, 0, label .. ': the gateway never answered busy')
  T.eq((c.max_in_flight_per_gateway or {})['2'], 1, label .. ': one operation at a time at the gateway')
  local tok = d.storage.ttlock_tokens
  T.ok(tok and tok.access_token ~= FIX.tokens[1].access_token, label .. ': storage holds the new access token')
  return log
end

local count = T.count

T.case('8 check-ins at once on a slow gateway with a token TTLock has expired: one refresh, all codes', function()
  T.set_state(state(1000))
  local dir = site('expired-remote')
  -- Storage still believes the token is good for weeks; TTLock answers 10004.
  seed_tokens(dir, (os.time() + 30 * 86400) * 1000)
  T.expire_tokens()
  T.reset_counters()
  local runs, secs = check_in_all(dir)
  local c = T.counters()
  local st = T.get_state()
  local log = check_outcome(dir, runs, st, 'expired at TTLock')
  T.eq(c.token_refreshes, 1, 'exactly one refresh reached TTLock')
  T.eq(c.token_grants, 0, 'no password grant')
  print(string.format('# %d processes, 1 s per gateway operation: %d s; %d renewals taken over from '
    .. 'another process', N, secs, count(log, 'token already renewed by another process')))
end)

T.case('8 check-ins at once with a token storage knows has expired: one refresh, all codes', function()
  T.set_state(state(300))
  local dir = site('expired-local')
  seed_tokens(dir, (os.time() - 3600) * 1000)
  T.expire_tokens()
  T.reset_counters()
  local runs, secs = check_in_all(dir)
  local c = T.counters()
  check_outcome(dir, runs, T.get_state(), 'expired locally')
  T.eq(c.token_refreshes, 1, 'exactly one refresh reached TTLock')
  T.eq(c.token_grants, 0, 'no password grant')
  print(string.format('# %d processes, 300 ms per gateway operation: %d s', N, secs))
end)

T.done()
