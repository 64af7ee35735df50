-- The site through the built module in a real Lua host (lua5.1 / luajit) against the simulator:
-- list_locks and list_gateways over several pages (a lock without a gateway, an offline
-- gateway), records oldest first across pages with who opened (the code's name, the card's, the
-- app user), records without recordId, a lock without gateway whose records arrive late, bad
-- input raising with nothing sent, and never a guest's digits in a result or a log line.
local T = require('testlib')
local fresh, requests, total_requests = T.fresh, T.requests, T.total_requests
local ttlock = require('ttlock')

local E = T.env
local HOUR = 3600 * 1000
local DAY = 24 * HOUR
local FIX = T.fixture()

-- The digits that must never come back: a guest's code, a staff code, a card number.
local GUEST, STAFF, CARD = '4829173', '6041852', '0012345678'

local LINES = {}
local STORE = { tokens = { access_token = FIX.tokens[1].access_token, refresh_token = FIX.tokens[1].refresh_token,
                           expires_at_ms = os.time() * 1000 + 80 * DAY } }
ttlock.configure{
  client_id = FIX.app.client_id, client_secret = FIX.app.client_secret,
  api_base = E.base_url, ca_file = E.ca_file, state_dir = T.tmpdir(),
  retry_backoff_ms = 10, timeout_s = 10, log_level = 'debug',
  token_store = { load = function() return STORE.tokens end, save = function(t) STORE.tokens = t end },
  log = function(line) LINES[#LINES + 1] = line end,
}

local function now_ms() return os.time() * 1000 end

local function lock(id, alias, gateway_ids, battery)
  return { lock_id = id, alias = alias, gateway_ids = gateway_ids, battery = battery or 100, open_state = 0,
           remote_unlock = true, passcodes = {}, records = {}, keypad = {}, unsent_records = {} }
end

local function record(id, rtype, who, digits, at)
  return { record_id = id, record_type = rtype, record_type_from_lock = rtype, success = 1, username = who,
           keyboard_pwd = digits, lock_date_ms = at, server_date_ms = at + 1000 }
end

local function keypad(lock_id, code, at_ms)
  local a, status = T.admin('POST', '/keypad', { lock_id = lock_id, code = code, at_ms = at_ms })
  T.eq(status, 200, 'keypad')
  return a
end

-- Every string inside a value, keys included.
local function strings(v, out, depth)
  out = out or {}
  depth = depth or 0
  if type(v) == 'string' then out[#out + 1] = v
  elseif type(v) == 'table' and depth < 10 then
    for k, x in pairs(v) do strings(k, out, depth + 1); strings(x, out, depth + 1) end
  end
  return out
end

local function no_digits(what, v)
  local text = table.concat(strings(v), '\n') .. '\n' .. table.concat(LINES, '\n')
  for _, d in ipairs{ GUEST, STAFF, CARD } do
    T.ok(not text:find(d, 1, true), what .. ': digits ' .. d .. ' found')
  end
end

local function keys_within(t, allowed, what)
  local ok = {}
  for _, k in ipairs(allowed) do ok[k] = true end
  for k in pairs(t) do T.ok(ok[k], what .. ': unexpected field ' .. tostring(k)) end
end

-- Room 101 (lock 1001): a guest's code and a staff code, 300 records at shuffled times
-- (keypad, card, app, and a code whose name is its digits), then openings on the keypad.
local function history()
  local t0 = now_ms() - 10 * DAY
  fresh(function(st)
    local l = T.find_lock(st, 1001)
    table.insert(l.passcodes, { keyboard_pwd_id = 0, keyboard_pwd = GUEST, name = '101_stay', type = 3,
      start_ms = t0, end_ms = now_ms() + DAY, is_custom = true, create_ms = 0 })
    table.insert(l.passcodes, { keyboard_pwd_id = 0, keyboard_pwd = STAFF, name = 'Staff', type = 2,
      start_ms = 0, end_ms = 0, is_custom = true, create_ms = 0 })
    for i = 0, 299 do
      local at = t0 + ((i * 7) % 300) * 60000
      local k = i % 4
      if k == 0 then l.records[#l.records + 1] = record(800000 + i, 4, '101_stay', GUEST, at)
      elseif k == 1 then l.records[#l.records + 1] = record(800000 + i, 7, 'Card 12', CARD, at)
      elseif k == 2 then l.records[#l.records + 1] = record(800000 + i, 1, 'hotel@example.com', '', at)
      else l.records[#l.records + 1] = record(800000 + i, 4, STAFF, STAFF, at) end
    end
  end)
  local opened = now_ms() - 2 * HOUR
  T.eq(keypad(1001, GUEST, opened).opens, true)
  T.eq(keypad(1001, STAFF, opened - HOUR).opens, true)
  T.eq(keypad(1001, '1111111', opened + HOUR).opens, false)
  T.reset_counters()
  return t0, opened
end

local function oldest_first(list)
  for i = 2, #list do
    T.ok(list[i - 1].time_ms <= list[i].time_ms, 'oldest first at ' .. i)
  end
end

T.case('the module has the site functions', function()
  for _, f in ipairs{ 'list_locks', 'list_gateways', 'records' } do
    T.eq(type(ttlock[f]), 'function', f)
  end
end)

T.case('list_locks: every page, a lock without gateway, nothing invented', function()
  fresh(function(st)
    table.insert(st.locks, lock(3001, 'Garage', {}, 12))
    table.insert(st.locks, lock(3000000001, 'Annex', { 1 }))
    for i = 1, 1100 do table.insert(st.locks, lock(100000 + i, 'Flat ' .. i, { 2 })) end
  end)
  local locks = assert(ttlock.list_locks())
  T.eq(requests('/v3/lock/list'), 2, '1105 locks: 2 pages of 1000')
  T.eq(#locks, 1105)
  local by_id, n = {}, 0
  for _, l in ipairs(locks) do
    keys_within(l, { 'lock_id', 'name', 'alias', 'battery', 'has_gateway' }, 'lock')
    T.eq(type(l.lock_id), 'number')
    T.eq(type(l.has_gateway), 'boolean')
    if not by_id[l.lock_id] then n = n + 1 end
    by_id[l.lock_id] = l
  end
  T.eq(n, 1105, 'no lock twice')
  T.eq(by_id[1001].alias, 'Room 101')
  T.eq(by_id[1001].battery, 87)
  T.eq(by_id[1001].has_gateway, true)
  T.ok(by_id[1001].name:find('^S31_'), 'name is the lock name')
  T.eq(by_id[3001].has_gateway, false)
  T.eq(by_id[3001].battery, 12)
  T.eq(by_id[3000000001].alias, 'Annex', 'an id beyond 2^31 stays whole')
  T.eq(ttlock.list_locks{}[1].lock_id, 1001, 'an empty option table works too')
end)

T.case('list_gateways: every page, online and lock counts', function()
  fresh(function(st)
    st.gateways[2].online = false
    for g = 3, 250 do table.insert(st.gateways, { gateway_id = g, name = 'GW ' .. g, online = true }) end
  end)
  local gws = assert(ttlock.list_gateways())
  T.eq(requests('/v3/gateway/list'), 2, '250 gateways: 2 pages of 200')
  T.eq(#gws, 250)
  for _, g in ipairs(gws) do
    keys_within(g, { 'gateway_id', 'name', 'online', 'lock_count' }, 'gateway')
  end
  T.eq(gws[1], { gateway_id = 1, name = 'GW floor 1', online = true, lock_count = 1 })
  T.eq(gws[2], { gateway_id = 2, name = 'GW floor 2', online = false, lock_count = 2 })
  T.eq(gws[250].lock_count, 0)
end)

T.case('records: every page, oldest first, who by name, never the digits', function()
  local t0, opened = history()
  local list = assert(ttlock.records{ lock_id = 1001, since_ms = t0 })
  T.eq(requests('/v3/lockRecord/list'), 2, '302 records: 2 pages of 200')
  T.eq(#list, 302)
  oldest_first(list)
  local seen, kinds, nameless = {}, {}, 0
  for _, r in ipairs(list) do
    keys_within(r, { 'record_id', 'lock_id', 'time_ms', 'server_time_ms', 'type', 'type_from_lock',
                     'type_name', 'success', 'who' }, 'record')
    T.ok(not seen[r.record_id], 'record ' .. r.record_id .. ' once')
    seen[r.record_id] = true
    T.eq(r.lock_id, 1001)
    T.eq(r.success, true)
    kinds[r.type_name] = (kinds[r.type_name] or 0) + 1
    if r.who == nil then nameless = nameless + 1 end
  end
  T.eq(kinds, { keypad = 152, card = 75, app = 75 }, 'kinds')
  T.eq(nameless, 75, 'a name that is the digits is left out')
  local newest = list[#list]
  T.eq(newest.who, '101_stay')
  T.eq(newest.type, 4)
  T.eq(newest.type_name, 'keypad')
  T.eq(newest.time_ms, opened)
  T.ok(newest.server_time_ms >= newest.time_ms, 'server time')
  T.eq(list[#list - 1].who, 'Staff')
  no_digits('records', list)

  -- A span: both ends inclusive, by the lock's time; until before since raises, nothing sent.
  T.reset_counters()
  local some = assert(ttlock.records{ lock_id = 1001, since_ms = t0 + 10 * 60000, until_ms = t0 + 14 * 60000 })
  T.eq(#some, 5)
  T.eq(some[1].time_ms, t0 + 10 * 60000)
  T.eq(some[5].time_ms, t0 + 14 * 60000)
  T.eq(requests('/v3/lockRecord/list'), 1)
end)

T.case('records without recordId, as real answers come', function()
  local t0 = history()
  T.options{ real_shapes = true }
  local list = assert(ttlock.records{ lock_id = 1001, since_ms = t0 })
  T.eq(#list, 302, 'every record, once')
  oldest_first(list)
  for _, r in ipairs(list) do
    T.eq(r.record_id, nil)
    T.eq(type(r.time_ms), 'number', 'numbers sent as strings are read')
  end
  no_digits('real records', list)
end)

T.case('a lock without gateway: its openings arrive when the lock is synced', function()
  local t0 = now_ms() - DAY
  fresh(function(st)
    local l = lock(3001, 'Garage', {})
    table.insert(l.passcodes, { keyboard_pwd_id = 0, keyboard_pwd = GUEST, name = 'G_guest', type = 3,
      start_ms = t0, end_ms = now_ms() + DAY, is_custom = true, create_ms = 0 })
    table.insert(st.locks, l)
  end)
  local opened = now_ms() - 5 * HOUR
  T.eq(keypad(3001, GUEST, opened).opens, true)
  T.eq(#assert(ttlock.records{ lock_id = 3001, since_ms = t0 }), 0, 'not in the cloud yet')
  T.admin('POST', '/locks/3001/records/upload')
  local list = assert(ttlock.records{ lock_id = 3001, since_ms = t0 })
  T.eq(#list, 1)
  T.eq(list[1].who, 'G_guest')
  T.eq(list[1].time_ms, opened)
  T.ok(list[1].server_time_ms - list[1].time_ms >= 5 * HOUR - 60000, 'uploaded late')
  no_digits('garage', list)
end)

T.case('an unknown lock is nil, err; bad input raises and sends nothing', function()
  fresh()
  local res, err = ttlock.records{ lock_id = 4242, since_ms = 0 }
  T.err_code(res, err, 'not_found')
  T.eq(type(err.advice), 'string')
  T.reset_counters()
  local since = now_ms() - HOUR
  local bad = {
    { lock_id = 1001, since_ms = since, until_ms = since - 1 },
    { lock_id = 1001 },
    { since_ms = since },
    { lock_id = 1001, since_ms = -1 },
    { lock_id = 1001, since_ms = since + 0.5 },
    { lock_id = '1001', since_ms = since },
    { lock_id = 1001, since_ms = since, page_size = 10 },
  }
  for _, args in ipairs(bad) do T.raises(ttlock.records, args) end
  T.ok(T.raises(ttlock.records, bad[1]):find('since_ms %(%d+%) is after until_ms'), 'says why')
  T.raises(ttlock.records)
  T.raises(ttlock.records, { lock_id = 1001, since_ms = since }, 2)
  T.raises(ttlock.list_locks, { all = true })
  T.raises(ttlock.list_locks, 5)
  T.raises(ttlock.list_gateways, 'x')
  T.eq(total_requests(), 0, 'nothing sent')
end)

T.done()
