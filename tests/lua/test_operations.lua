-- Passcodes, purge and lock control through the built module in a real Lua host (lua5.1 /
-- luajit) against the simulator: check-in to a room and the main door, a lost answer leaving one
-- copy, rollback when the main door's gateway is offline, two gateways at the same time, 450
-- codes, dry run and real purge, -3003 retried, -4043/-2012/-3002, bad input creating nothing,
-- ids and times above 2^31, local_time_ms under TZ=Europe/Riga across both DST changes, and no
-- secret in any log line or result.
local T = require('testlib')
local fresh, requests, total_requests = T.fresh, T.requests, T.total_requests
local ttlock = require('ttlock')

local E = T.env
local DAY = 86400 * 1000
local HOUR = 3600 * 1000
local FIX = T.fixture()

local LINES = {}
local STATE_DIR = T.tmpdir()
local STORE = { tokens = { access_token = FIX.tokens[1].access_token, refresh_token = FIX.tokens[1].refresh_token,
                           expires_at_ms = os.time() * 1000 + 80 * DAY } }

-- The module against the simulator with the tokens of STORE; `log` and `log_level` may be
-- given (default: lines into LINES).
local function configure(log, log_level)
  ttlock.configure{
    client_id = FIX.app.client_id, client_secret = FIX.app.client_secret,
    api_base = E.base_url, ca_file = E.ca_file, state_dir = STATE_DIR,
    retry_backoff_ms = 10, timeout_s = 10,
    token_store = { load = function() return STORE.tokens end, save = function(t) STORE.tokens = t end },
    log = log or function(line) LINES[#LINES + 1] = line end, log_level = log_level,
  }
end
configure()

local function now_ms() return os.time() * 1000 end

local function codes_on(state, lock_id, code)
  local n = 0
  for _, p in ipairs((T.find_lock(state, lock_id) or {}).passcodes or {}) do
    if p.keyboard_pwd == code then n = n + 1 end
  end
  return n
end

local raises = T.raises

local function period(lock_id, code, name, s, e)
  return { keyboard_pwd_id = 0, keyboard_pwd = code, name = name, type = 3, start_ms = s, end_ms = e,
           is_custom = true, create_ms = 0 }
end

local function add_codes(st, lock_id, list)
  local l = T.find_lock(st, lock_id)
  for _, p in ipairs(list) do table.insert(l.passcodes, p) end
end

T.case('the module has every operation', function()
  for _, f in ipairs{ 'add_passcode', 'change_passcode', 'delete_passcode', 'list_passcodes',
                      'generate_passcode', 'local_time_ms', 'purge_expired', 'unlock', 'lock',
                      'lock_state', 'battery', 'stay_check_in', 'stay_check_out' } do
    T.eq(type(ttlock[f]), 'function', f)
  end
end)

T.case('check-in: room and main door get the code, leading zero kept, exact window', function()
  fresh()
  local from, to = now_ms() + HOUR, now_ms() + 3 * DAY
  local res, err = ttlock.add_passcode{ lock_id = 1001, also_lock_ids = { 2001 }, passcode = '04821',
    name = '101_01120512', valid_from_ms = from, valid_to_ms = to }
  T.ok(res, tostring(err))
  T.eq(res.ok, true)
  T.eq(res.passcode, '04821')
  T.eq(#res.locks, 2)
  local st = T.get_state()
  for i, id in ipairs({ 1001, 2001 }) do
    T.eq(res.locks[i].lock_id, id)
    T.eq(res.locks[i].ok, true)
    local p
    for _, q in ipairs(T.find_lock(st, id).passcodes) do if q.keyboard_pwd == '04821' then p = q end end
    T.ok(p, 'code on lock ' .. id)
    T.eq(p.keyboard_pwd_id, res.locks[i].passcode_id)
    T.eq(p.start_ms, from)
    T.eq(p.end_ms, to)
    T.eq(p.name, '101_01120512')
  end
  T.eq(requests('/v3/gateway/listByLock'), 2, 'gateways learned')
  T.reset_counters()
  T.ok(ttlock.add_passcode{ lock_id = 1001, also_lock_ids = { 2001 }, passcode = '59324',
    valid_from_ms = from, valid_to_ms = to })
  T.eq(requests('/v3/gateway/listByLock'), 0, 'gateways kept in state_dir')
  T.ok(T.read_file(STATE_DIR .. '/gateways.json'), 'gateway map file')
  T.ok(T.read_file(STATE_DIR .. '/ledger.json'), 'ledger file')
end)

T.case('a lost answer on add leaves exactly one copy', function()
  fresh()
  T.fault{ path = '/v3/keyboardPwd/add', kind = 'lose_answer', count = 1 }
  local res, err = ttlock.add_passcode{ lock_id = 1002, passcode = '48213', valid_from_ms = now_ms(),
    valid_to_ms = now_ms() + DAY }
  T.ok(res, tostring(err))
  T.eq(res.locks[1].existing, true)
  T.eq(codes_on(T.get_state(), 1002, '48213'), 1)
  T.eq(requests('/v3/keyboardPwd/add'), 1, 'not repeated blind')
end)

T.case('a common door whose gateway is offline rolls the room back; both locks listed', function()
  fresh(function(st) st.gateways[2].online = false end)
  local res, err = ttlock.add_passcode{ lock_id = 1001, also_lock_ids = { 2001 }, passcode = '48213',
    name = '101_x', valid_from_ms = now_ms(), valid_to_ms = now_ms() + DAY }
  T.eq(res, nil)
  T.err_code(err, 'gateway_offline')
  T.eq(err.errcode, -3002)
  T.eq(err.rolled_back, true)
  T.eq(#err.locks, 2)
  T.eq(err.locks[1].lock_id, 1001)
  T.eq(err.locks[1].ok, true)
  T.eq(err.locks[1].rolled_back, true)
  T.eq(err.locks[2].lock_id, 2001)
  T.eq(err.locks[2].ok, false)
  T.eq(err.locks[2].code, 'gateway_offline')
  T.eq(tostring(err), err.message)
  local st = T.get_state()
  T.eq(codes_on(st, 1001, '48213') + codes_on(st, 2001, '48213'), 0, 'no copy left')
end)

T.case('doors on two gateways are written at the same time, one at a time per gateway', function()
  local hold = 500
  fresh(nil, hold)
  -- Learn the gateways first.
  T.ok(ttlock.add_passcode{ lock_id = 1001, passcode = '13572', valid_from_ms = now_ms(), valid_to_ms = now_ms() + DAY })
  T.ok(ttlock.add_passcode{ lock_id = 2001, passcode = '13572', valid_from_ms = now_ms(), valid_to_ms = now_ms() + DAY })
  T.reset_counters()
  local has_socket, socket = pcall(require, 'socket')
  local clock = has_socket and socket.gettime or os.time
  local t0 = clock()
  T.ok(ttlock.add_passcode{ lock_id = 1001, also_lock_ids = { 2001 }, passcode = '48213',
    valid_from_ms = now_ms(), valid_to_ms = now_ms() + DAY })
  local two = clock() - t0
  local c = T.counters()
  for gw, n in pairs(c.max_in_flight_per_gateway) do T.ok(n <= 1, 'gateway ' .. gw .. ': ' .. n) end
  T.eq(c.gateway_busy_sent, 0)
  t0 = clock()
  T.ok(ttlock.add_passcode{ lock_id = 1002, also_lock_ids = { 2001 }, passcode = '59324',
    valid_from_ms = now_ms(), valid_to_ms = now_ms() + DAY })
  local one = clock() - t0
  c = T.counters()
  for gw, n in pairs(c.max_in_flight_per_gateway) do T.ok(n <= 1, 'gateway ' .. gw .. ': ' .. n) end
  T.eq(c.gateway_busy_sent, 0, 'a shared gateway is never sent two at once')
  print(string.format('# gateway hold %d ms: two gateways %.0f ms, one shared gateway %.0f ms%s', hold,
    two * 1000, one * 1000, has_socket and '' or ' (os.time resolution)'))
end)

T.case('450 codes on one lock are all read', function()
  local now = now_ms()
  fresh(function(st)
    local list = {}
    for i = 1, 450 do
      local e = (i % 45 == 0) and (now - 5 * DAY) or (now + DAY)
      list[i] = period(1001, string.format('%06d', 100000 + i * 7), 'bulk_' .. i, now - 9 * DAY, e)
    end
    add_codes(st, 1001, list)
  end)
  local items = T.ok(ttlock.list_passcodes{ lock_id = 1001 })
  T.eq(#items, 450)
  T.eq(requests('/v3/lock/listKeyboardPwd'), 3)
  local r = T.ok(ttlock.purge_expired{ lock_ids = { 1001 }, dry_run = true })
  T.eq(r.locks[1].listed, 450)
  T.eq(r.locks[1].expired, 10)
  T.eq(#r.would_delete, 10)
end)

local function seed_purge(st)
  local now = now_ms()
  add_codes(st, 1001, {
    period(1001, '31415', '101_old', now - 6 * DAY, now - 3 * DAY),       -- expired
    period(1001, '27182', '101_grace', now - 2 * DAY, now - 6 * HOUR),    -- inside the grace day
    period(1001, '16180', '101_now', now - DAY, now + 2 * DAY),           -- valid
    { keyboard_pwd_id = 0, keyboard_pwd = '90909', name = 'Staff', type = 2, start_ms = 0, end_ms = 0,
      is_custom = true, create_ms = 0 },                                   -- permanent
  })
  add_codes(st, 1002, { period(1002, '14142', '102_old', now - 4 * DAY, now - 2 * DAY) })
end

-- These cases replace the simulator's state behind the module's back (as codes made in the
-- TTLock app would be), so they ask for a full listing instead of trusting the ledger's recent
-- sweep of this shared state_dir.
local SWEEP = 0

local function names_on(st, lock_id)
  local n = {}
  for _, p in ipairs(T.find_lock(st, lock_id).passcodes) do n[#n + 1] = p.name end
  table.sort(n)
  return n
end

T.case('dry run deletes nothing and fills would_delete', function()
  fresh(seed_purge)
  local before = T.json(T.get_state())
  local r = T.ok(ttlock.purge_expired{ lock_ids = { 1001, 1002 }, dry_run = true, full_sweep_days = SWEEP })
  T.eq(r.dry_run, true)
  T.eq(#r.deleted, 0)
  T.eq(#r.would_delete, 2)
  T.eq(requests('/v3/keyboardPwd/delete'), 0)
  T.eq(T.json(T.get_state()), before, 'state unchanged')
end)

T.case('purge: permanent, in-grace and valid codes survive; expired ones go', function()
  fresh(seed_purge)
  local r = T.ok(ttlock.purge_expired{ lock_ids = { 1001, 1002 }, grace_s = 86400, full_sweep_days = SWEEP })
  T.eq(#r.deleted, 2)
  T.eq(#r.failed, 0)
  local st = T.get_state()
  T.eq(names_on(st, 1001), { '101_grace', '101_now', 'Staff' })
  T.eq(names_on(st, 1002), {})
  T.eq(r.locks[1].deleted, 1)
  T.eq(r.locks[2].deleted, 1)
  -- The next day (nothing new has expired): the ledger answers, no API call at all.
  T.reset_counters()
  local quiet = T.ok(ttlock.purge_expired{ lock_ids = { 1001, 1002 } })
  T.eq(total_requests(), 0, 'no request on a quiet day')
  T.eq(quiet.locks[1].source, 'ledger')
  T.eq(#quiet.deleted, 0)
end)

T.case('-3003 on delete is retried', function()
  fresh(seed_purge)
  T.fault{ path = '/v3/keyboardPwd/delete', kind = 'errcode', errcode = -3003, count = 4 }
  local r = T.ok(ttlock.purge_expired{ lock_ids = { 1002 }, full_sweep_days = SWEEP })
  T.eq(#r.deleted, 1)
  T.eq(#r.failed, 0)
  T.eq(requests('/v3/keyboardPwd/delete'), 5)
end)

T.case('-4043 / -2012 / -3002 give not_supported / lock_offline / gateway_offline', function()
  fresh(function(st)
    T.find_lock(st, 1002).remote_unlock = false
    table.insert(st.locks, { lock_id = 3001, alias = 'Garage', gateway_ids = {}, battery = 50, open_state = 0,
                             remote_unlock = true, passcodes = {}, records = {} })
    st.gateways[1].online = false
  end)
  local ok, err = ttlock.unlock{ lock_id = 1002 }
  T.eq(ok, nil)
  T.err_code(err, 'not_supported')
  T.ok(err.message:find('Remote unlock is off for this lock: turn it on in the TTLock app', 1, true), err.message)
  T.ok(err.advice:find('^Remote unlock is off'), err.advice)
  ok, err = ttlock.unlock{ lock_id = 3001 }
  T.err_code(ok, err, 'lock_offline')
  T.eq(err.errcode, -2012)
  ok, err = ttlock.unlock{ lock_id = 1001 }
  T.err_code(ok, err, 'gateway_offline')
  T.eq(err.errcode, -3002)
  T.eq(ttlock.battery{ lock_id = 2001 }, 100)
  T.eq(ttlock.lock_state{ lock_id = 2001 }, 'locked')
  T.eq(ttlock.unlock{ lock_id = 2001 }, true)
  T.eq(ttlock.lock_state{ lock_id = 2001 }, 'unlocked')
  T.eq(ttlock.lock{ lock_id = 2001 }, true)
end)

T.case('bad input creates nothing and sends nothing', function()
  fresh()
  local before = T.json(T.get_state())
  local base = { lock_id = 1001, also_lock_ids = { 2001 }, passcode = '48213', valid_from_ms = now_ms(),
                 valid_to_ms = now_ms() + DAY }
  local function with(over)
    local t = {}
    for k, v in pairs(base) do t[k] = v end
    for k, v in pairs(over) do t[k] = v end
    return t
  end
  for _, over in ipairs{ { passcode = '123' }, { passcode = '1234567890' }, { passcode = '4821x' },
                         { valid_to_ms = base.valid_from_ms }, { valid_from_ms = now_ms() - 2 * DAY, valid_to_ms = now_ms() - DAY } } do
    local res, err = ttlock.add_passcode(with(over))
    T.eq(res, nil)
    T.err_code(err, 'invalid_argument')
  end
  raises(ttlock.add_passcode, with{ passcode = 48213 })
  raises(ttlock.add_passcode, with{ lock_id = 'room' })
  raises(ttlock.add_passcode, with{ wrong = 1 })
  T.eq(total_requests(), 0, 'no request')
  T.eq(T.json(T.get_state()), before, 'state unchanged')
end)

T.case('ids and millisecond times above 2^31 round-trip exactly', function()
  local big = 4000000123
  fresh(function(st)
    table.insert(st.locks, { lock_id = big, alias = 'Annex', gateway_ids = { 1 }, battery = 77, open_state = 0,
                             remote_unlock = true, records = {},
                             passcodes = { { keyboard_pwd_id = 3000000001, keyboard_pwd = '13579', name = 'seed',
                                             type = 2, start_ms = 0, end_ms = 0, is_custom = true, create_ms = 0 } } })
  end)
  local from, to = 2000000000123, 2000086400456
  local res, err = ttlock.add_passcode{ lock_id = big, passcode = '86420', valid_from_ms = from, valid_to_ms = to }
  T.ok(res, tostring(err))
  local id = res.locks[1].passcode_id
  T.eq(res.locks[1].lock_id, big)
  T.ok(id > 2 ^ 31, 'id ' .. tostring(id))
  local p
  for _, q in ipairs(T.find_lock(T.get_state(), big).passcodes) do if q.keyboard_pwd == '86420' then p = q end end
  T.eq(p.keyboard_pwd_id, id)
  T.eq(string.format('%.0f', p.start_ms), '2000000000123')
  T.eq(string.format('%.0f', p.end_ms), '2000086400456')
  for _, q in ipairs(T.ok(ttlock.list_passcodes{ lock_id = big })) do
    if q.passcode == '86420' then
      T.eq(q.passcode_id, id)
      T.eq(string.format('%.0f', q.valid_to_ms), '2000086400456')
    end
  end
  T.eq(ttlock.battery{ lock_id = big }, 77)
end)

T.case('generate_passcode: digits, not trivial, free on the locks', function()
  fresh()
  for _ = 1, 20 do
    local code = T.ok(ttlock.generate_passcode{ digits = 5, lock_ids = { 1001, 2001 } })
    T.ok(code:match('^%d%d%d%d%d$'), code)
    T.ok(not code:match('^(%d)%1+$'), 'all same: ' .. code)
  end
end)

T.case('local_time_ms follows TZ=Europe/Riga across both DST changes, like os.time', function()
  local dir = T.tmpdir()
  local file = dir .. '/tz.lua'
  T.write_file(file, [[
local ttlock = require('ttlock')
local cases = {
  { { day = 1, month = 12, year = 2025 }, { hour = 14, minute = 0, second = 0 } },
  { { day = 29, month = 3, year = 2026 }, { hour = 2, minute = 59, second = 0 } },
  { { day = 29, month = 3, year = 2026 }, { hour = 4, minute = 0 } },
  { { day = 25, month = 10, year = 2026 }, { hour = 2, minute = 30, second = 0 } },
  { { day = 25, month = 10, year = 2026 }, { hour = 5, minute = 0, second = 0 } },
}
for i, c in ipairs(cases) do
  local d, t = c[1], c[2]
  local m = ttlock.local_time_ms(d, t)
  local o = os.time{ year = d.year, month = d.month, day = d.day, hour = t.hour, min = t.minute, sec = t.second or 0 } * 1000
  print(string.format('case %d %.0f %s', i, m, m == o and 'same' or 'differs'))
end
]])
  local code, out = T.run('TZ=Europe/Riga LUA_CPATH=' .. T.q(package.cpath) .. ' ' .. T.lua_cmd(file))
  T.eq(code, 0, out)
  T.ok(out:find('case 1 1764590400000 same', 1, true), 'winter, UTC+2: ' .. out)
  T.ok(out:find('case 2 1774745940000 same', 1, true), 'before the spring change: ' .. out)
  T.ok(out:find('case 3 1774746000000 same', 1, true), 'after it, one minute later: ' .. out)
  T.ok(out:find('case 4 1792884600000 same', 1, true), 'summer time, UTC+3: ' .. out)
  T.ok(out:find('case 5 1792897200000 same', 1, true), 'after the autumn change, UTC+2: ' .. out)
end)

T.case('check_in_plan: the check-in rules from LM objects, nothing sent', function()
  T.reset_counters()
  local t0 = os.date('*t', os.time() + 2 * 86400)
  local t1 = os.date('*t', os.time() + 5 * 86400)
  local day = function(t) return { day = t.day, month = t.month, year = t.year } end
  local at = function(h, m) return { day = 3, hour = h, minute = m, second = 0 } end
  local args = function(over)
    local a = { room = '101', passcode = '04821', arrival_date = day(t0), arrival_time = at(14, 0),
                departure_date = day(t1), departure_time = at(11, 0) }
    for k, v in pairs(over or {}) do a[k] = v end
    return a
  end
  local plan = assert(ttlock.check_in_plan(args()))
  T.eq(plan.passcode, '04821', 'a string keeps its leading zero')
  T.eq(plan.name, string.format('101_%02d%02d%02d%02d', t0.day, t0.month, t1.day, t1.month), 'the whole room name')
  T.eq(plan.valid_from_ms, ttlock.local_time_ms(day(t0), at(14, 0)))
  T.eq(plan.valid_to_ms, ttlock.local_time_ms(day(t1), at(11, 0)))
  T.eq(ttlock.check_in_plan(args{ passcode = 48213 }).passcode, '48213', 'a numeric object is written whole')
  T.eq(ttlock.check_in_plan(args{ room = 'Suite 3' }).name:sub(1, 8), 'Suite 3_')
  -- Refusals say what to fix, in err.advice (the +9 text) and err.message.
  local cases = {
    { { passcode = '123' }, 'the passcode must be 4 to 9 digits' },
    { { passcode = 1234.5 }, 'the passcode must be 4 to 9 digits' },
    { { passcode = false }, 'no passcode: type 4 to 9 digits, or switch the trigger off for a new code' },
    { { arrival_date = { day = 0, month = 0, year = 2000 } }, 'the arrival date is not set' },
    { { departure_date = { day = 31, month = 2, year = t1.year } }, 'the departure date is not a real date' },
    { { arrival_time = { day = 3, hour = 24, minute = 0 } }, 'the arrival time is not a real time (hour 0-23, minute 0-59)' },
    { { departure_time = {} }, 'the departure time is not set' },
    { { arrival_date = day(os.date('*t', os.time() - 86400)) }, 'is in the past' },
    { { departure_date = day(t0), departure_time = at(13, 0) }, 'is not after arrival' },
  }
  for i, c in ipairs(cases) do
    local v, err = ttlock.check_in_plan(args(c[1]))
    T.eq(v, nil, 'case ' .. i)
    T.eq(err.code, 'invalid_argument', 'case ' .. i)
    T.ok(err.advice:find(c[2], 1, true), 'case ' .. i .. ': ' .. tostring(err.advice))
    T.eq(err.message:sub(1, #err.advice), err.advice, 'case ' .. i .. ': the log message starts with the advice')
  end
  local _, err = ttlock.check_in_plan(args{ passcode = '0482' .. '1x' })
  T.ok(not err.message:find('04821x', 1, true), 'the refused code is not echoed')
  -- An arrival in the current minute counts as now.
  local now = os.date('*t')
  T.ok(ttlock.check_in_plan(args{ arrival_date = day(now), arrival_time = { hour = now.hour, minute = now.min } }),
    'the current minute is accepted')
  T.raises(ttlock.check_in_plan, { room = '101', arrival_date = 'today' })
  T.raises(ttlock.check_in_plan, { passcode = '04821' })
  T.eq(total_requests(), 0, 'nothing was sent')
end)

T.case('stays through a Lua stay_store: misuse raises, bad values send and store nothing, records survive LM storage', function()
  fresh()
  -- LM storage keeps Lua literals: every record goes through text and back.
  local kept, saves = {}, 0
  local function through_text(v)
    if v == nil then return nil end
    return assert((loadstring or load)('return ' .. T.lm().serialize(v)))()
  end
  local store = {
    rooms = function() local r = {} for k in pairs(kept) do r[#r + 1] = k end return r end,
    load = function(room) return through_text(kept[room]) end,
    save = function(room, rec) saves = saves + 1; kept[room] = through_text(rec) end,
  }
  ttlock.configure{
    client_id = FIX.app.client_id, client_secret = FIX.app.client_secret,
    api_base = E.base_url, ca_file = E.ca_file, state_dir = STATE_DIR, retry_backoff_ms = 10,
    token_store = { load = function() return STORE.tokens end, save = function(t) STORE.tokens = t end },
    log = function(line) LINES[#LINES + 1] = line end, stay_store = store,
  }
  T.raises(ttlock.configure, { client_id = 'x', client_secret = 'y', stay_store = { rooms = 1 } })
  local t0 = os.date('*t', os.time() + 2 * 86400)
  local t1 = os.date('*t', os.time() + 5 * 86400)
  local t2 = os.date('*t', os.time() + 7 * 86400)
  local day = function(t) return { day = t.day, month = t.month, year = t.year } end
  local at = function(h) return { hour = h, minute = 0 } end
  local doors = { { lock_id = 1001, name = 'Room 101' }, { lock_id = 2001, name = 'Main door' } }
  local function args(over)
    local a = { room = '101', doors = doors, passcode = '04821', arrival_date = day(t0), arrival_time = at(14),
                departure_date = day(t1), departure_time = at(11) }
    for k, v in pairs(over or {}) do a[k] = v end
    return a
  end
  -- Misuse raises.
  T.raises(ttlock.stay_check_in, args{ doors = false })
  T.raises(ttlock.stay_check_in, args{ doors = {} })
  T.raises(ttlock.stay_check_in, args{ doors = { { lock_id = -1 } } })
  T.raises(ttlock.stay_check_in, args{ colour = 'red' })
  T.raises(ttlock.stay_check_out, { room = '101' })
  -- Bad LM values: nil, err with the status text; nothing sent, nothing stored.
  for _, over in ipairs{ { passcode = '12' }, { arrival_date = { day = 0, month = 0, year = 2000 } },
                         { departure_date = day(t0), departure_time = at(13) } } do
    local res, err = ttlock.stay_check_in(args(over))
    T.eq(res, nil, 'refused')
    T.eq(err.code, 'invalid_argument')
    T.eq(err.outcome, 'unchanged')
    T.eq(err.status, 'Error: ' .. err.advice, 'the status is the advice')
  end
  T.eq(total_requests(), 0, 'nothing sent')
  T.eq(saves, 0, 'nothing stored')
  -- Check-in, extend, check-out through the store.
  local res = assert(ttlock.stay_check_in(args()))
  T.eq(res.action, 'check_in')
  T.eq(res.outcome, 'done')
  T.eq(res.passcode, '04821')
  T.eq(#res.doors, 2)
  T.eq(res.doors[1].state, 'new')
  T.eq(res.room_passcode_id, res.doors[1].passcode_id, 'room_passcode_id is the room lock\'s id')
  T.ok(kept['101'] and kept['101'].stay and kept['101'].stay.passcode == '04821', 'the record is stored')
  local ext = assert(ttlock.stay_check_in(args{ departure_date = day(t2) }))
  T.eq(ext.action, 'extend')
  T.eq(ext.doors[2].passcode_id, res.doors[2].passcode_id, 'same id on the main door')
  T.eq(ext.valid_to_ms, ttlock.local_time_ms(day(t2), at(11)))
  T.ok(ext.status:find('^Stay extended: code 04821'), ext.status)
  T.ok(not ext.log_line:find('04821', 1, true), 'no code in the log line')
  local out = assert(ttlock.stay_check_out{ room = '101', doors = doors })
  T.eq(out.action, 'check_out')
  T.eq(kept['101'], nil, 'the record is forgotten')
  local st = T.get_state()
  T.eq(codes_on(st, 1001, '04821') + codes_on(st, 2001, '04821'), 0, 'removed from both doors')
  local again = assert(ttlock.stay_check_out{ room = '101', doors = doors })
  T.eq(again.action, 'nothing')
  -- A record that cannot be read is reported, not guessed at.
  kept['101'] = { room = '101', holds = 'garbage' }
  local r2, e2 = ttlock.stay_check_in(args())
  T.eq(r2, nil)
  T.eq(e2.outcome, 'unchanged')
  T.ok(e2.message:find('stay memory of room 101 is unreadable', 1, true), e2.message)
  configure()
end)

T.case('log_level: successful requests reach log only at debug', function()
  fresh()
  local function lines_with(level)
    local got = {}
    configure(function(line) got[#got + 1] = line end, level)
    assert(ttlock.list_passcodes{ lock_id = 1001 })
    return table.concat(got, '\n')
  end
  T.ok(not lines_with('info'):find('errcode=0', 1, true), 'info: no trace of a successful request')
  T.ok(lines_with('debug'):find('GET /v3/lock/listKeyboardPwd attempt=1/', 1, true), 'debug: every request')
  T.ok(not lines_with(nil):find('errcode=0', 1, true), 'info is the default')
  T.raises(ttlock.configure, { client_id = 'x', client_secret = 'y', log_level = 'verbose' })
  configure()
end)

T.case('no secret in any log line or result; no passcode in log lines', function()
  local secrets = { FIX.app.client_secret, FIX.tokens[1].access_token, FIX.tokens[1].refresh_token }
  if STORE.tokens then
    secrets[#secrets + 1] = STORE.tokens.access_token
    secrets[#secrets + 1] = STORE.tokens.refresh_token
  end
  fresh(seed_purge)
  T.fault{ path = '/v3/keyboardPwd/add', kind = 'lose_answer', count = 1 }
  local out = {}
  local function keep(...) out[#out + 1] = { ... } end
  keep(ttlock.add_passcode{ lock_id = 1001, also_lock_ids = { 2001 }, passcode = '52741', valid_from_ms = now_ms(),
    valid_to_ms = now_ms() + DAY })
  keep(ttlock.purge_expired{ lock_ids = { 1001, 1002, 9999 }, full_sweep_days = SWEEP })
  keep(ttlock.unlock{ lock_id = 4242 })
  local parts = {}
  local function collect(v, depth)
    if type(v) == 'string' then parts[#parts + 1] = v
    elseif type(v) == 'table' and depth < 10 then
      for k, x in pairs(v) do collect(k, depth + 1); collect(x, depth + 1) end
    end
  end
  collect(out, 0)
  T.ok(#parts > 10, 'results were collected')
  local text = table.concat(parts, '\n') .. '\n' .. table.concat(LINES, '\n')
  T.ok(#LINES > 10, 'log lines were written')
  for _, s in ipairs(secrets) do
    T.ok(not text:find(s, 1, true), 'secret found')
  end
  local logs = table.concat(LINES, '\n')
  for _, code in ipairs{ '52741', '48213', '04821', '31415', '14142' } do
    T.ok(not logs:find(code, 1, true), 'passcode in the log: ' .. code)
  end
end)

T.done()
