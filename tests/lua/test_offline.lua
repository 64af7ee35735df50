-- Doors without a working gateway, through the LM scripts and the LM emulator: TTLock's offline
-- codes for a room lock without a gateway (the same digits on the main door), the automatic mode,
-- what a check-out can and cannot do there, and the best-effort queue for a main door whose
-- gateway is offline: pending, retried, changed or ended meanwhile, kept across a reboot, and the
-- alert at the guest's arrival. Lock 1003 (room 103) has no gateway; the main door 2001 and room
-- 102 (1002) are on gateway 2, room 101 (1001) on gateway 1.
local T = require('testlib')
local S = require('scriptsite')
local K = S.K
local event, dump, new_site = S.event, S.dump, S.new_site
local set_values, ga_plus, memory, room = S.set_values, S.ga_plus, S.stay_memory, S.room

local R101, R103 = '32/1/0', '32/1/32'
local HOUR = 3600

-- The fixture plus lock 1003 "Room 103" that no gateway reaches.
local function fresh(edit)
  return S.fresh_state(function(st)
    local base = K.lock(st, 1001)
    local l = {}
    for k, v in pairs(base) do l[k] = v end
    l.lock_id, l.alias, l.gateway_ids, l.passcodes = 1003, 'Room 103', {}, {}
    if l.lock_name then l.lock_name = 'Room 103' end
    st.locks[#st.locks + 1] = l
    if edit then edit(st) end
  end)
end

local function set_gateway(id, online)
  local st = T.get_state()
  for _, g in ipairs(st.gateways) do
    if g.gateway_id == id then g.online = online end
  end
  T.set_state(st)
end

local function codes(lock_id)
  return (K.lock(T.get_state(), lock_id) or {}).passcodes or {}
end

local function by_code(lock_id, code)
  local out = {}
  for _, p in ipairs(codes(lock_id)) do
    if p.keyboard_pwd == code then out[#out + 1] = p end
  end
  return out
end

-- A guest typing `code` on lock `lock_id` at `at` (seconds), by what the lock itself holds.
local function keypad(lock_id, code, at)
  local res, http = T.admin('POST', '/keypad', T.object{ lock_id = lock_id, code = code, at_ms = at * 1000 })
  T.eq(http, 200, 'keypad answered: ' .. tostring(type(res) == 'table' and T.json(res) or res))
  return type(res) == 'table' and res or {}
end

local function value(dir, ga, n) return dump(dir).values[ga_plus(ga, n)] end
local function status(dir, ga) return value(dir, ga, 9) end

local function retry(dir, all)
  local f = dir .. '/retry-now.lua'
  K.writefile(f, "require('user.ttlock').retry_pending(" .. tostring(all == true) .. ')\n')
  local code, out = S.lm_run{ site = dir, script = all and f or (S.SCRIPTS .. 'retry_scheduled.lua') }
  T.eq(code, 0, 'retry ran: ' .. out)
end

---------------------------------------------------------------------------------------------------

T.case('a room without a gateway gets TTLock\'s offline code; the main door gets the same digits', function()
  fresh()
  local from, to = K.at(1, 14), K.at(4, 11)
  local dir = new_site('offline-room', room(R103, 1003, '103', { code = '48213', from = from, to = to }),
    { room_codes = 'offline' })
  event(dir, 'passcode_event.lua', R103, true)
  local code = value(dir, R103, 1)
  T.ok(type(code) == 'string' and code:match('^%d%d%d%d%d%d+$') and code ~= '48213',
    '+1 holds TTLock\'s code: ' .. tostring(code) .. ' / ' .. tostring(status(dir, R103)))
  local room_code = by_code(1003, code)[1]
  T.ok(room_code and room_code.type == 3 and room_code.is_custom == false, 'a random period code on the room lock')
  T.eq(value(dir, R103, 8), room_code and room_code.keyboard_pwd_id, '+8 names the offline code\'s id')
  T.eq(room_code and room_code.start_ms, from * 1000, 'from the arrival hour')
  T.eq(room_code and room_code.end_ms, to * 1000, 'to the departure hour')
  local main = by_code(2001, code)[1]
  T.ok(main and main.end_ms == to * 1000, 'the same digits on the main door as a custom code')
  T.eq(#by_code(1003, '48213') + #by_code(2001, '48213'), 0, 'the typed code went nowhere')
  local st = status(dir, R103)
  T.ok(st:find('Room 103: offline code ' .. code .. ' valid', 1, true), '+9 names the offline code: ' .. st)
  local first_use = os.date('%d.%m %H:%M', from + 24 * HOUR)
  T.ok(st:find('must be used once before ' .. first_use, 1, true), '+9 gives the 24-hour rule: ' .. st)
  T.ok(st:find('Main door: ok', 1, true), '+9 main door: ' .. st)
  T.eq(S.requests('/v3/keyboardPwd/get'), 1, 'one random code')
  T.ok(not K.log_text(dir):find(code, 1, true), 'the code is not logged')
  -- What the locks themselves do with the code.
  T.eq(keypad(1003, code, from + HOUR).reason, 'ok', 'the room lock opens with it after arrival')
  T.eq(keypad(2001, code, from + HOUR).reason, 'ok', 'so does the main door')
  T.eq(keypad(1003, code, from - HOUR).reason, 'not_yet_valid', 'not before arrival')
  T.eq(K.alert_text(dir), '', 'no alert')
end)

T.case('an offline code first typed more than 24 hours after its start is suspended by the lock', function()
  fresh()
  local from = K.at(1, 14)
  local dir = new_site('offline-24h', room(R103, 1003, '103', { code = '48213', from = from, to = K.at(4, 11) }),
    { room_codes = 'offline' })
  event(dir, 'passcode_event.lua', R103, true)
  local code = value(dir, R103, 1)
  T.eq(keypad(1003, code, from + 25 * HOUR).reason, 'suspended', 'the lock suspends it, as +9 warned: ' .. status(dir, R103))
end)

T.case('auto mode gives offline codes to a lock without a gateway and custom codes to the others', function()
  fresh()
  local dir = new_site('auto', S.concat(room(R101, 1001, '101', { code = '48213' }),
    room(R103, 1003, '103', { code = '59324' })), { room_codes = 'auto' })
  event(dir, 'passcode_event.lua', R101, true)
  T.eq(#by_code(1001, '48213'), 1, 'room 101 (gateway): the typed code: ' .. status(dir, R101))
  event(dir, 'passcode_event.lua', R103, true)
  local code = value(dir, R103, 1)
  T.ok(code ~= '59324' and #by_code(1003, code) == 1 and #by_code(2001, code) == 1,
    'room 103 (no gateway): TTLock\'s code on the room and the main door: ' .. status(dir, R103))
  T.eq(S.requests('/v3/keyboardPwd/get'), 1, 'one random code in all')
end)

T.case('check-out and shortening on an offline door say the code stays valid until its end', function()
  fresh()
  local from, to = K.at(1, 14), K.at(4, 11)
  local dir = new_site('offline-out', room(R103, 1003, '103', { code = '48213', from = from, to = to }),
    { room_codes = 'auto' })
  event(dir, 'passcode_event.lua', R103, true)
  local code = value(dir, R103, 1)
  -- Shorter: the main door follows, the room lock cannot.
  local d, t = K.date_time(K.at(3, 11))
  set_values(dir, { [ga_plus(R103, 5)] = d, [ga_plus(R103, 6)] = t })
  event(dir, 'passcode_event.lua', R103, true)
  local st = status(dir, R103)
  T.ok(st:find('^Stay shortened: '), '+9: ' .. st)
  T.ok(st:find('cannot be shortened without a gateway: it opens until ' .. os.date('%d.%m %H:%M', to), 1, true), '+9 says so: ' .. st)
  T.eq(by_code(2001, code)[1].end_ms, K.at(3, 11) * 1000, 'the main door is shortened')
  -- Check-out: removed from the main door, still valid on the room lock until its end.
  event(dir, 'checkout_event.lua', ga_plus(R103, 7), true)
  st = status(dir, R103)
  T.ok(st:find('Main door: removed', 1, true), '+9 main door removed: ' .. st)
  T.ok(st:find('Room 103: offline code ' .. code .. ' still valid until ' .. os.date('%d.%m %H:%M', to), 1, true),
    '+9 says the room code stays valid: ' .. st)
  T.ok(not st:find('Room 103: removed', 1, true), 'never "removed" for the offline door')
  T.eq(keypad(1003, code, from + HOUR).reason, 'ok', 'and indeed the room lock still opens with it')
  T.eq(keypad(2001, code, from + HOUR).opens, false, 'the main door no longer does')
  T.eq(#by_code(2001, code), 0, 'gone from the main door')
  T.eq(memory(dir, '103'), nil, 'memory cleared')
end)

T.case('best effort: an offline main-door gateway leaves the door pending; the retry adds it when it is back', function()
  fresh()
  local dir = new_site('pending', room(R101, 1001, '101', { code = '48213' }), { common_doors_required = false })
  set_gateway(2, false)
  event(dir, 'passcode_event.lua', R101, true)
  local st = status(dir, R101)
  T.eq(#by_code(1001, '48213'), 1, 'the room door has the code: ' .. st)
  T.eq(#by_code(2001, '48213'), 0, 'the main door does not')
  T.ok(st:find('Main door: pending (the gateway is offline', 1, true) and st:find('retrying', 1, true), '+9: ' .. st)
  local mem = memory(dir, '101')
  T.ok(mem and mem.pending and mem.pending[1] and mem.pending[1].lock_id == 2001, 'queued in LM storage')
  T.eq(K.alert_text(dir), '', 'no alert yet (the guest arrives tomorrow)')
  -- Not due yet: the scheduled retry does nothing.
  retry(dir)
  T.eq(S.requests('/v3/keyboardPwd/add'), 2, 'no retry before its time (room add + one main door try)')
  -- A reboot: state_dir lives in RAM on an LM; the queue is in LM storage.
  os.execute('rm -rf ' .. T.q(dir .. '/state'))
  set_gateway(2, true)
  retry(dir, true)
  T.eq(#by_code(2001, '48213'), 1, 'the main door got the code')
  st = status(dir, R101)
  T.ok(st:find('^Pending doors done: '), '+9 updated: ' .. st)
  T.eq((memory(dir, '101') or {}).pending, nil, 'the queue is empty')
end)

T.case('the queue applies the stay as it is now: changed, or ended, while the door waited', function()
  fresh()
  local dir = new_site('pending-change', room(R101, 1001, '101', { code = '48213', from = K.at(1, 14), to = K.at(4, 11) }),
    { common_doors_required = false })
  set_gateway(2, false)
  event(dir, 'passcode_event.lua', R101, true)
  -- Extended while the main door waits.
  local d, t = K.date_time(K.at(6, 11))
  set_values(dir, { [ga_plus(R101, 5)] = d, [ga_plus(R101, 6)] = t })
  event(dir, 'passcode_event.lua', R101, true)
  T.eq(by_code(1001, '48213')[1].end_ms, K.at(6, 11) * 1000, 'the room door is extended: ' .. status(dir, R101))
  set_gateway(2, true)
  retry(dir, true)
  local m = by_code(2001, '48213')
  T.eq(#m, 1, 'one copy on the main door')
  T.eq(m[1] and m[1].end_ms, K.at(6, 11) * 1000, 'with the current window, not the first one')

  -- Ended while waiting: nothing is added.
  local dir2 = new_site('pending-end', room(R101, 1001, '101', { code = '59324' }), { common_doors_required = false })
  set_gateway(2, false)
  event(dir2, 'passcode_event.lua', R101, true)
  event(dir2, 'checkout_event.lua', ga_plus(R101, 7), true)
  set_gateway(2, true)
  retry(dir2, true)
  T.eq(#by_code(2001, '59324') + #by_code(1001, '59324'), 0, 'no code for an ended stay')
end)

T.case('an alert when a door is still pending at the guest\'s arrival, once', function()
  fresh()
  local now = os.time()
  local dir = new_site('pending-arrival', room(R101, 1001, '101', { code = '48213', from = now, to = K.at(2, 11) }),
    { common_doors_required = false })
  set_gateway(2, false)
  event(dir, 'passcode_event.lua', R101, true)
  local alert = K.alert_text(dir)
  T.ok(alert:find('arrival time has come', 1, true) and alert:find('Main door', 1, true), 'alert: ' .. alert)
  T.ok(not alert:find('48213', 1, true), 'no code in the alert')
  retry(dir, true)
  local _, n = K.alert_text(dir):gsub('arrival time has come', '')
  T.eq(n, 1, 'raised once')
end)

T.case('the purge removes expired codes of a lock without a gateway from TTLock\'s list, said once', function()
  fresh(function(st)
    local l = K.lock(st, 1003)
    local now = os.time() * 1000
    l.passcodes = { { keyboard_pwd_id = 901, keyboard_pwd = '7654321', name = 'old', type = 3, is_custom = false,
                      start_ms = now - 6 * 86400000, end_ms = now - 3 * 86400000, create_ms = now - 6 * 86400000 } }
  end)
  local dir = new_site('purge-nogw', room(R103, 1003, '103'), { purge_dry_run = false, common_doors = {} })
  S.scheduled(dir, 'purge_scheduled.lua')
  T.eq(#codes(1003), 0, 'removed from the list')
  local log = K.log_text(dir)
  T.ok(log:find('no gateway: removed from TTLock\'s list only', 1, true), 'the lock line says so: ' .. log)
  T.ok(log:find('0 locks failed', 1, true), 'not a failure')
  T.eq(K.alert_text(dir), '', 'no alert')
  S.scheduled(dir, 'purge_scheduled.lua')
  local _, n = K.log_text(dir):gsub('no gateway reaches this lock', '')
  T.ok(n <= 1, 'the explanation comes once')
end)

T.done()
