-- Door events through the LM scripts (each run a separate process through the LM emulator)
-- against the simulator: the guest's arrival once per stay (never by a staff code or the previous
-- guest's), last opened at / by, a record uploaded late and one without recordId each handled
-- once, a cursor that survives a failed read in the middle of the pages and a restart, and site
-- health alerts on changes only. The poller's clock is given to each run (`door_events(now)`), so
-- a run "an hour later" is a run whose plan sees an hour passed; TTLock's clock and the records
-- are real.
-- Room 101 (lock 1001) is on gateway 1, the main door (2001) and room 102 (1002) on gateway 2.
local T = require('testlib')
local S = require('scriptsite')
local H = require('hotelday')
local site_objects, keypad, count = H.site_objects, H.keypad, H.count
local K = S.K
local dump, fresh_state, new_site, concat = S.dump, S.fresh_state, S.new_site, S.concat
local ga_plus, stay_memory, room = S.ga_plus, S.stay_memory, S.room

local R101, R102 = '32/1/0', '32/1/16'
local MIN, HOUR = 60 * 1000, 3600 * 1000

-- The door-event objects of a door (comment LockId:), from base `ga`: +0 GuestArrived,
-- +1 LastOpenedAt (text), +2 LastOpenedBy, +3 LockBattery, +4 LockBatteryLow.
local function door_objects(ga, lock_id, label)
  local c = 'LockId:' .. lock_id
  return {
    { address = ga, name = label .. ' guest arrived', datatype = K.dt.bool, value = false, comment = c,
      tags = { 'GuestArrived' } },
    { address = ga_plus(ga, 1), name = label .. ' last opened at', datatype = K.dt.string, value = '',
      comment = c, tags = { 'LastOpenedAt' } },
    { address = ga_plus(ga, 2), name = label .. ' last opened by', datatype = K.dt.text, value = '',
      comment = c, tags = { 'LastOpenedBy' } },
    { address = ga_plus(ga, 3), name = label .. ' battery', datatype = K.dt.uint32, value = 0, comment = c,
      tags = { 'LockBattery' } },
    { address = ga_plus(ga, 4), name = label .. ' battery low', datatype = K.dt.bool, value = false,
      comment = c, tags = { 'LockBatteryLow' } },
  }
end

-- One run of the door events script as LM runs it, its plan at `now_ms`: the new records it
-- handled and the arrivals it found.
local function poll(dir, now_ms)
  local f = dir .. '/door-events-at.lua'
  K.writefile(f, string.format("local r = require('user.ttlock').door_events(%.0f)\n"
    .. "print('handled=' .. tostring(r and r.handled) .. ' arrivals=' .. tostring(r and r.arrivals))\n", now_ms))
  local code, out = S.lm_run{ site = dir, script = f }
  T.eq(code, 0, 'door events run; output: ' .. out .. '\nlog: ' .. K.log_text(dir))
  return tonumber(out:match('handled=(%d+)')), tonumber(out:match('arrivals=(%d+)'))
end

local function values(dir) return dump(dir).values end

local function check_in(dir, ga) S.event(dir, 'passcode_event.lua', ga, true) end
local function check_out(dir, ga) S.event(dir, 'checkout_event.lua', ga_plus(ga, 7), true) end

---------------------------------------------------------------------------------------------------

T.case('arrival once per stay; a staff code and the previous guest\'s code never arrive', function()
  fresh_state()
  local now = os.time()
  local from, to = now - now % 60 + 60, now + 3 * 86400
  -- A staff code and the previous guest's code (its window still open on the lock).
  T.admin('POST', '/locks/1001/passcodes', { { keyboard_pwd = '777777', name = 'Staff', type = 2 },
    { keyboard_pwd = '555444', name = '101_28113011', type = 3, start_ms = (now - 86400) * 1000,
      end_ms = (now + 86400) * 1000 } })
  local dir = new_site('arrival', concat(room(R101, 1001, '101', { code = '48213', from = from, to = to }),
    door_objects('40/1/0', 1001, 'Room 101'), site_objects()), { api_budget = 100000 })
  check_in(dir, R101)
  T.ok(stay_memory(dir, '101'), 'checked in: ' .. tostring(values(dir)[ga_plus(R101, 9)]))
  local t0 = now * 1000
  poll(dir, t0)  -- first poll: every cursor starts now, nothing read
  T.eq(values(dir)['40/1/0'], false, 'not arrived yet')

  T.eq(keypad(1001, '777777', (from + 30) * 1000).opens, true, 'the staff code opens')
  T.eq(keypad(1001, '555444', (from + 40) * 1000).opens, true, 'the previous guest\'s code opens')
  poll(dir, t0 + HOUR)
  local v = values(dir)
  T.eq(v['40/1/0'], false, 'other codes never mark an arrival')
  T.eq(v['40/1/2'], '101_28113011', 'last opened by: the code\'s name')
  T.ok(not (stay_memory(dir, '101').stay or {}).arrived_ms, 'the stay has not arrived')

  T.eq(keypad(1001, '48213', (from + 60) * 1000).opens, true, 'the guest opens')
  poll(dir, t0 + 2 * HOUR)
  v = values(dir)
  T.eq(v['40/1/0'], true, 'guest arrived')
  local name = stay_memory(dir, '101').stay.name
  T.eq(v['40/1/2'], name, 'last opened by: the stay, not the digits')
  T.eq(v['40/1/1'], os.date('%d.%m.%y %H:%M', from + 60), 'last opened at, local time (a 14-byte string)')
  T.eq(stay_memory(dir, '101').stay.arrived_ms, (from + 60) * 1000, 'the stay memory knows when')
  T.eq(count(K.log_text(dir), 'arrived: first opened'), 1, 'one arrival line')

  keypad(1001, '48213', (from + 120) * 1000)
  poll(dir, t0 + 3 * HOUR)
  T.eq(count(K.log_text(dir), 'arrived: first opened'), 1, 'the second opening is no arrival')
  T.eq(values(dir)['40/1/0'], true, 'still arrived')

  -- The next stay starts "not arrived", and arrives once with its own code.
  check_out(dir, R101)
  poll(dir, t0 + 4 * HOUR)
  T.eq(values(dir)['40/1/0'], false, 'no stay: not arrived')
  S.set_values(dir, { [ga_plus(R101, 1)] = '91357' })
  check_in(dir, R101)
  poll(dir, t0 + 5 * HOUR)
  T.eq(values(dir)['40/1/0'], false, 'new stay: not arrived')
  keypad(1001, '48213', (from + 200) * 1000)  -- the last guest's code, removed: opens nothing
  keypad(1001, '91357', (from + 240) * 1000)
  poll(dir, t0 + 6 * HOUR)
  T.eq(values(dir)['40/1/0'], true, 'the new guest arrived')
  T.eq(count(K.log_text(dir), 'arrived: first opened'), 2, 'one arrival per stay')
  local log = K.log_text(dir)
  for _, digits in ipairs({ '48213', '91357', '777777', '555444' }) do
    T.ok(not log:find(digits, 1, true), 'no digits in the log: ' .. digits)
  end
  T.ok(not K.alert_text(dir):find('48213', 1, true), 'no digits in alerts')
end)

T.case('site health: objects follow the site, alerts only on changes', function()
  fresh_state()
  local dir = new_site('health', concat(room(R101, 1001, '101', { code = '48213' }),
    door_objects('40/1/0', 1001, 'Room 101'), site_objects()), { api_budget = 100000 })
  local t0 = os.time() * 1000
  local function alerts() return count(K.alert_text(dir), 'TTLock: ') end
  poll(dir, t0)
  local v = values(dir)
  T.eq(v['33/0/0'], true, 'TTLock OK')
  T.eq(v['40/1/3'], 87, 'battery of room 101, as TTLock last heard it')
  T.eq(v['40/1/4'], false, 'battery not low')
  T.eq(v['33/0/3'], true, 'gateway 1 online')
  T.eq(v['33/0/4'], true, 'gateway 2 online')
  T.ok(v['33/0/1'] >= 88 and v['33/0/1'] <= 90, 'token days left: ' .. tostring(v['33/0/1']))
  T.ok(v['33/0/2'] >= 2, 'API calls this month: ' .. tostring(v['33/0/2']))
  T.eq(alerts(), 0, 'a healthy site raises nothing: ' .. K.alert_text(dir))
  poll(dir, t0 + HOUR)
  T.eq(alerts(), 0, 'nothing changed, nothing raised')

  T.admin('POST', '/locks/1001', { battery = 15 })
  T.admin('POST', '/gateways/2', { online = false })
  poll(dir, t0 + 2 * HOUR)
  v = values(dir)
  T.eq({ v['40/1/3'], v['40/1/4'], v['33/0/4'], v['33/0/3'] }, { 15, true, false, true },
    'battery 15 %, alarm on, gateway 2 offline, gateway 1 online')
  local text = K.alert_text(dir)
  T.eq(count(text, 'battery low on Room 101'), 1, 'one battery alert: ' .. text)
  T.eq(count(text, 'gateway GW floor 2 %(id 2%) is offline'), 1, 'one gateway alert: ' .. text)
  T.eq(alerts(), 2, 'two changes, two alerts')
  poll(dir, t0 + 3 * HOUR)
  poll(dir, t0 + 4 * HOUR)
  T.eq(alerts(), 2, 'the same state is not raised again')

  T.admin('POST', '/locks/1001', { battery = 22 })
  poll(dir, t0 + 5 * HOUR)
  T.eq(values(dir)['40/1/4'], true, 'within 5 points of the threshold the alarm stays on (no flapping)')
  T.admin('POST', '/locks/1001', { battery = 100 })
  T.admin('POST', '/gateways/2', { online = true })
  poll(dir, t0 + 6 * HOUR)
  v = values(dir)
  T.eq({ v['40/1/3'], v['40/1/4'], v['33/0/4'] }, { 100, false, true }, 'replaced, back online')
  T.eq(count(K.alert_text(dir), 'is back online'), 1, 'one alert for the gateway back')
  T.ok(K.log_text(dir):find('alarm cleared', 1, true), 'the battery replaced is a log line')
  poll(dir, t0 + 7 * HOUR)
  T.eq(alerts(), 3, 'nothing more')
end)

T.case('a late record and one without recordId are each handled once, across a token refresh', function()
  fresh_state()
  local dir = new_site('late', concat(room(R101, 1001, '101', { code = '48213' }),
    door_objects('40/1/0', 1001, 'Room 101')), { api_budget = 100000 })
  local t0 = os.time() * 1000
  T.eq(poll(dir, t0), 0, 'first poll: the cursor starts now')
  -- Gateway 1 (room 101) is down: the lock keeps its records until it is back.
  T.admin('POST', '/gateways/1', { online = false })
  local r, http = T.admin('POST', '/open', { lock_id = 1001, by = 'card', who = 'Cleaning card 3', number = '3543255893' })
  T.eq(http, 200, 'card opening: ' .. T.json(r))
  T.eq(poll(dir, t0 + HOUR), 0, 'not in TTLock yet')
  T.admin('POST', '/gateways/1', { online = true })  -- uploads what the lock kept
  T.eq(poll(dir, t0 + 2 * HOUR), 1, 'the late record, once')
  T.eq(values(dir)['40/1/2'], 'Cleaning card 3', 'last opened by the card')
  T.eq(poll(dir, t0 + 3 * HOUR), 0, 'never twice (it is still in the look-back window)')
  -- Records without recordId, as some answers are: told apart by time, type and who.
  T.admin('POST', '/open', { lock_id = 1001, by = 'app', who = 'hotel@example.com', no_record_id = true })
  T.admin('POST', '/open', { lock_id = 1001, by = 'card', who = 'Cleaning card 3', no_record_id = true })
  T.expire_tokens()  -- a token refresh between polls loses nothing
  T.eq(poll(dir, t0 + 4 * HOUR), 2, 'two records without id, once each')
  T.eq(poll(dir, t0 + 5 * HOUR), 0, 'and not again')
  T.eq(poll(dir, t0 + 6 * HOUR), 0, 'nor later')
  local log = K.log_text(dir)
  T.ok(not log:find('3543255893', 1, true), 'the card number is never logged')
end)

T.case('a cursor survives a failure in the middle of the pages and a restart', function()
  fresh_state()
  local dir = new_site('pages', concat(room(R101, 1001, '101', { code = '48213' }),
    door_objects('40/1/0', 1001, 'Room 101')), { api_budget = 100000 })
  local t0 = os.time() * 1000
  poll(dir, t0)
  -- 450 openings after the cursor's start: three pages of 200.
  local st = T.get_state()
  local lock = K.lock(st, 1001)
  lock.records = lock.records or {}
  -- Lock times after the first poll's cursor (a second ahead: os.time has whole seconds), already
  -- in TTLock (serverDate now).
  local base = os.time() * 1000
  for i = 1, 450 do
    lock.records[#lock.records + 1] = { record_id = 900000 + i, record_type = 7, record_type_from_lock = 17,
      success = 1, username = 'Card ' .. i, keyboard_pwd = tostring(7000000 + i), lock_date_ms = base + 1000 + i,
      server_date_ms = base }
  end
  T.set_state(st)
  -- Page 1 answers, page 2 fails on every try.
  local _, http = T.admin('POST', '/fault', { { path = '/v3/lockRecord/list', kind = 'delay', delay_ms = 0, count = 1 },
                                              { path = '/v3/lockRecord/list', kind = 'drop_before', count = 10 } })
  T.eq(http, 200, 'faults set')
  T.eq(poll(dir, t0 + HOUR), 0, 'a failed read handles nothing')
  T.ok(K.log_text(dir):find('failed', 1, true), 'the failure is logged')
  T.clear_faults()
  -- The next run is a new process (as after a reboot): the old cursor reads the span again.
  T.eq(poll(dir, t0 + 2 * HOUR), 450, 'every record once')
  T.eq(values(dir)['40/1/2'], 'Card 450', 'the latest opening')
  T.eq(poll(dir, t0 + 3 * HOUR), 0, 'none twice')
  T.ok(K.log_text(dir):find('reading works again', 1, true), 'the recovery is logged')
end)

T.case('the budget holds over a month: a recorded day of a 40-room hotel, scaled by 30', function()
  for _, budget in ipairs({ 5000, 100000 }) do
    local f = H.day(budget)
    print('figure: ' .. H.text(f))
    T.ok(f.month <= budget, string.format('budget %d: %.0f calls a day, %.0f a month', budget, f.total, f.month))
    T.ok(f.turnover >= 44, 'the turnover was spent: ' .. f.turnover)
    T.ok(f.polls > 0 and f.health > 0, 'polls and health ran')
    T.eq(f.arrivals, 11, 'the day\'s eleven guests were found arrived')
    -- LM storage writes stay bounded (README "Door events"): the state at most every 30 min and
    -- after each health check or handled record; a cursor after it handled records, else once a
    -- look-back day (and a lock's first). 41 doors; the day's records are the 11 arrivals.
    local writes = (f.writes.ttlock_events or 0) + (f.writes['ttlock_cursor_*'] or 0)
    local bound = 48 + f.health / 2 + 2 * 11 + 2 * 41
    T.ok(writes <= bound, string.format('budget %d: %d storage writes in the day, bound %d', budget, writes, bound))
    T.ok(K.log_text(f.dir):find('door events: site health every', 1, true), 'the intervals are logged')
    if budget == 5000 then
      T.ok((f.purge + f.health) * 30 < budget / 4, 'listings below a quarter of the month')
    end
  end
end)

T.done()
