-- The LM scripts (lua/scripts/*.lua over lua/user/ttlock.lua) run through the LM emulator, each run
-- a separate process, against the simulator: check-in, code generation, refusals, rollback text,
-- unlock, purge (dry run and real), token migration, an expired token between runs, every script
-- once with LM's write delay, and a scan of everything the sites show for secrets, read-backs and
-- writes that would start an event script again.
--
-- The scripts run with LM's module paths only (LM_HOST_PATHS=0): they need nothing of the host's.
local T = require('testlib')
local S = require('scriptsite')
local K = S.K
local FIX = S.FIX
local NONE = S.NONE
local sites, secrets = S.sites, S.secrets
local remember_tokens, lm_run, new_site, concat = S.remember_tokens, S.lm_run, S.new_site, S.concat
local fresh_state, dump, requests, count_codes = S.fresh_state, S.dump, S.requests, S.count_codes
local event, scheduled, window_text = S.event, S.scheduled, S.window_text

---------------------------------------------------------------------------------------------------

T.case('check-in puts the code on the room lock and the main door, with +2, +8 and +9', function()
  fresh_state()
  local from, to = K.at(1, 14), K.at(4, 11)
  local dir = new_site('checkin', K.room_block('32/1/0', 1001, '101', { code = '48213', from = from, to = to }))
  event(dir, 'passcode_event.lua', '32/1/0', true)

  local fd, ft = K.date_time(from)
  local td, tt = K.date_time(to)
  local name = '101_' .. K.ddmm(fd) .. K.ddmm(td)
  local st = T.get_state()
  local room = K.passcode_by_code(K.lock(st, 1001), '48213')
  local main = K.passcode_by_code(K.lock(st, 2001), '48213')
  T.ok(room, 'code on the room lock 1001')
  T.ok(main, 'code on the main door 2001')
  for _, p in ipairs({ room, main }) do
    T.eq(p.start_ms, from * 1000, 'valid from')
    T.eq(p.end_ms, to * 1000, 'valid to')
    T.eq(p.name, name, 'passcode name (whole room name)')
    T.eq(p.type, 3, 'a period code')
  end
  local d = dump(dir)
  T.eq(d.values['32/1/2'], name, '+2 passcode name')
  T.eq(d.values['32/1/8'], room.keyboard_pwd_id, '+8 room passcode id')
  T.eq(d.values['32/1/9'], string.format('Room 101: code 48213 active %s (id %d); Main door: ok (id %d)',
    window_text(fd, ft, td, tt), room.keyboard_pwd_id, main.keyboard_pwd_id), '+9 status')
  T.ok(K.log_text(dir):find('TTLock: check-in Room 101 (32/1/0) ' .. name, 1, true), 'log line')
  T.ok(not K.log_text(dir):find('48213', 1, true), 'the passcode is not logged')
  T.eq(K.alert_text(dir), '', 'no alert on success')
  remember_tokens()
end)

T.case('a leading zero survives and an arrival in the current minute is accepted', function()
  fresh_state()
  -- Keep the test away from a minute boundary, so "now" is the same minute for the script.
  if os.time() % 60 > 45 then os.execute('sleep ' .. (61 - os.time() % 60)) end
  local now = os.time()
  local from = now - now % 60
  local dir = new_site('nowarrival', K.room_block('32/1/0', 1002, '102', { code = '04821', from = from, to = K.at(2, 11) }))
  event(dir, 'passcode_event.lua', '32/1/0', true)
  local st = T.get_state()
  local p = K.passcode_by_code(K.lock(st, 1002), '04821')
  T.ok(p, 'code 04821 on room 102: ' .. tostring(dump(dir).values['32/1/9']))
  T.eq(p and p.start_ms, from * 1000, 'valid from now')
  T.ok(K.passcode_by_code(K.lock(st, 2001), '04821'), 'code 04821 on the main door (same gateway)')
  remember_tokens()
end)

T.case('trigger false puts a fresh 5-digit code into +1 and creates nothing', function()
  fresh_state()
  local dir = new_site('generate', K.room_block('32/1/0', 1001, '101', { code = '' }))
  local codes = {}
  for i = 1, 3 do
    event(dir, 'passcode_event.lua', '32/1/0', false)
    local d = dump(dir)
    local c = d.values['32/1/1']
    T.eq(type(c), 'string', 'run ' .. i .. ': +1 holds a string')
    T.ok(c:match('^%d%d%d%d%d$'), 'run ' .. i .. ': 5 digits, got ' .. tostring(c))
    T.ok(not c:match('^(%d)%1%1%1%1$'), 'not all the same digit: ' .. c)
    T.ok(not ('0123456789'):find(c, 1, true) and not ('9876543210'):find(c, 1, true), 'not a straight run: ' .. c)
    T.ok(d.values['32/1/9']:find('New code generated', 1, true), '+9: ' .. tostring(d.values['32/1/9']))
    codes[#codes + 1] = c
  end
  T.ok(not (codes[1] == codes[2] and codes[2] == codes[3]), 'codes differ between runs')
  local st = T.get_state()
  T.eq(count_codes(st, 1001) + count_codes(st, 2001), 0, 'nothing added to a lock')
  T.eq(requests('/v3/keyboardPwd/add'), 0, 'no add request')
  -- The stay memory answers: no listing of the doors, no TTLock call at all.
  T.eq(T.total_requests(), 0, 'no TTLock request for a fresh code')
  remember_tokens()
end)

T.case('a numeric +1 object gets a code without a leading zero, and it is checked in', function()
  fresh_state()
  local dir = new_site('numeric', K.room_block('32/1/0', 1001, '101', { code = 0, code_datatype = K.dt.uint32 }))
  for _ = 1, 3 do
    event(dir, 'passcode_event.lua', '32/1/0', false)
    local c = dump(dir).values['32/1/1']
    T.eq(type(c), 'number', 'a number in a numeric object')
    T.ok(c >= 10000 and c <= 99999, 'five digits without a leading zero: ' .. tostring(c))
  end
  local c = dump(dir).values['32/1/1']
  event(dir, 'passcode_event.lua', '32/1/0', true)
  T.ok(K.passcode_by_code(K.lock(T.get_state(), 1001), string.format('%d', c)), 'numeric code checked in')
  remember_tokens()
end)

T.case('an arrival in the past is refused and nothing is created', function()
  fresh_state()
  local from = K.at(-1, 14)
  local dir = new_site('past', K.room_block('32/1/0', 1001, '101', { code = '48213', from = from, to = K.at(2, 11) }))
  event(dir, 'passcode_event.lua', '32/1/0', true)
  local d = dump(dir)
  local fd, ft = K.date_time(from)
  T.eq(d.values['32/1/9'], string.format('Error: arrival %02d.%02d %02d:%02d is in the past', fd.day, fd.month,
    ft.hour, ft.minute), '+9')
  T.eq(d.values['32/1/2'], '', '+2 untouched')
  T.eq(d.values['32/1/8'], 0, '+8 untouched')
  local st = T.get_state()
  T.eq(count_codes(st, 1001) + count_codes(st, 2001), 0, 'nothing created')
  T.eq(requests('/v3/keyboardPwd/add'), 0, 'no add request')
end)

T.case('a departure not after the arrival is refused and nothing is created', function()
  fresh_state()
  local dir = new_site('backwards', K.room_block('32/1/0', 1001, '101', { code = '48213', from = K.at(2, 14), to = K.at(1, 11) }))
  event(dir, 'passcode_event.lua', '32/1/0', true)
  T.ok(dump(dir).values['32/1/9']:find('^Error: departure .* is not after arrival'), '+9 says why')
  -- Equal times are refused too.
  local dir2 = new_site('equal', K.room_block('32/1/0', 1001, '101', { code = '48213', from = K.at(2, 14), to = K.at(2, 14) }))
  event(dir2, 'passcode_event.lua', '32/1/0', true)
  T.ok(dump(dir2).values['32/1/9']:find('^Error: departure .* is not after arrival'), '+9 says why (equal)')
  local st = T.get_state()
  T.eq(count_codes(st, 1001) + count_codes(st, 2001), 0, 'nothing created')
  T.eq(requests('/v3/keyboardPwd/add'), 0, 'no add request')
end)

T.case('a bad passcode or missing LockId is refused with a readable status', function()
  fresh_state()
  local objs = K.room_block('32/1/0', 1001, '101', { code = '12a4' })
  local dir = new_site('badcode', objs)
  event(dir, 'passcode_event.lua', '32/1/0', true)
  T.eq(dump(dir).values['32/1/9'], 'Error: the passcode must be 4 to 9 digits', '+9 bad code')
  local objs2 = K.room_block('32/1/0', 1001, '101', { code = '48213' })
  objs2[1].comment = 'no id here'
  local dir2 = new_site('nolockid', objs2)
  event(dir2, 'passcode_event.lua', '32/1/0', true)
  T.eq(dump(dir2).values['32/1/9'], 'Error: no LockId:<digits> in the comment of 32/1/0', '+9 no lock id')
  T.eq(requests('/v3/keyboardPwd/add'), 0, 'no add request')
end)

T.case('a main door whose gateway is offline rolls the room back, and +9 says so per door', function()
  fresh_state(function(st)
    for _, g in ipairs(st.gateways) do
      if g.gateway_id == 2 then g.online = false end
    end
  end)
  local dir = new_site('rollback', K.room_block('32/1/0', 1001, '101', { code = '48213' }))
  event(dir, 'passcode_event.lua', '32/1/0', true)
  local d = dump(dir)
  local status = d.values['32/1/9']
  T.ok(status:find('^Check%-in failed, no door has the code: '), '+9 headline: ' .. status)
  T.ok(status:find('Room 101: code removed again (rolled back)', 1, true), '+9 room rolled back: ' .. status)
  T.ok(status:find('Main door: the gateway is offline: check its power and network', 1, true), '+9 main door says what to do: ' .. status)
  T.eq(d.values['32/1/8'], 0, '+8 untouched')
  local st = T.get_state()
  T.eq(count_codes(st, 1001) + count_codes(st, 2001), 0, 'no code left on any door')
  -- Every door is back where it was and +9 says so: no door is in a state nobody asked for.
  T.eq(K.alert_text(dir), '', 'no alert for a clean rollback')
  T.ok(K.log_text(dir):find('Main door (lock 2001): the gateway is offline: check its power and network', 1, true), 'log names the door')
  remember_tokens()
end)

T.case('UnlockDoor true opens the door, false does nothing, a refusal is logged', function()
  fresh_state(function(st)
    for _, l in ipairs(st.locks) do
      if l.lock_id == 1002 then l.remote_unlock = false end
    end
  end)
  local dir = new_site('unlock', {
    K.unlock_object('32/2/0', 2001, 'Main door unlock'),
    K.unlock_object('32/2/1', 1002, 'Room 102 unlock'),
  })
  event(dir, 'unlock_event.lua', '32/2/0', false)
  T.eq(requests('/v3/lock/unlock'), 0, 'false sends nothing')
  event(dir, 'unlock_event.lua', '32/2/0', true)
  T.eq(K.lock(T.get_state(), 2001).open_state, 1, 'the simulator shows the main door open')
  T.eq(requests('/v3/lock/unlock'), 1, 'one unlock request')
  T.ok(K.log_text(dir):find('TTLock: unlock Main door unlock (lock 2001): opened', 1, true), 'log: opened')
  event(dir, 'unlock_event.lua', '32/2/1', true)
  T.eq(K.lock(T.get_state(), 1002).open_state, 0, 'room 102 stays closed')
  T.ok(K.log_text(dir):find('TTLock: unlock Room 102 unlock (lock 1002) failed: Remote unlock is off for this lock: turn it on in the TTLock app (lock settings, Remote unlock)', 1, true),
    'log: refusal in words')
  T.ok(K.alert_text(dir):find('unlock Room 102 unlock (lock 1002) failed', 1, true), 'alert on failure')
  remember_tokens()
end)

---------------------------------------------------------------------------------------------------
-- Purge

local DAY = 86400 * 1000
local function seed_codes(st)
  local now = os.time() * 1000
  local function add(lock_id, id, code, name, ptype, s, e)
    for _, l in ipairs(st.locks) do
      if l.lock_id == lock_id then
        l.passcodes = l.passcodes or {}
        table.insert(l.passcodes, { keyboard_pwd_id = id, keyboard_pwd = code, name = name, type = ptype,
          start_ms = s, end_ms = e, is_custom = true, create_ms = s > 0 and s or now - 30 * DAY })
      end
    end
  end
  add(1001, 501, '31415', '101_old', 3, now - 6 * DAY, now - 3 * DAY)        -- expired
  add(1001, 502, '27182', '101_grace', 3, now - 2 * DAY, now - 6 * 3600000)  -- inside the grace day
  add(1001, 503, '16180', '101_now', 3, now - DAY, now + 2 * DAY)            -- valid
  add(1001, 504, '90909', 'Staff 101', 2, 0, 0)                              -- permanent
  add(1002, 505, '14142', '102_old', 3, now - 4 * DAY, now - 2 * DAY)        -- expired
  add(2001, 506, '31415', '101_old', 3, now - 6 * DAY, now - 3 * DAY)        -- expired
  add(2001, 507, '90910', 'Staff', 2, 0, 0)                                  -- permanent
end

local function ids_of(state, lock_id)
  local ids = {}
  for _, p in ipairs((K.lock(state, lock_id) or {}).passcodes or {}) do ids[#ids + 1] = p.keyboard_pwd_id end
  table.sort(ids)
  return ids
end

local function purge_site(name, dry)
  return new_site(name, concat(K.room_block('32/1/0', 1001, '101'), K.room_block('32/1/16', 1002, '102')),
    { purge_dry_run = dry })
end

T.case('purge dry run deletes nothing and logs what it would delete', function()
  fresh_state(seed_codes)
  local dir = purge_site('purge-dry', true)
  scheduled(dir, 'purge_scheduled.lua')
  local st = T.get_state()
  T.eq(ids_of(st, 1001), { 501, 502, 503, 504 }, 'room 101 unchanged')
  T.eq(ids_of(st, 1002), { 505 }, 'room 102 unchanged')
  T.eq(ids_of(st, 2001), { 506, 507 }, 'main door unchanged')
  T.eq(requests('/v3/keyboardPwd/delete'), 0, 'no delete request')
  local log = K.log_text(dir)
  T.ok(log:find('purge (dry run) Room 101 (lock 1001):', 1, true), 'per-lock line for room 101')
  T.ok(log:find('would delete 1: 101_old (id 501', 1, true), 'room 101 would lose 101_old')
  T.ok(log:find('purge (dry run) Room 102 (lock 1002):', 1, true), 'per-lock line for room 102')
  T.ok(log:find('purge (dry run) Main door (lock 2001):', 1, true), 'per-lock line for the main door')
  T.ok(log:find('purge done (dry run, nothing deleted', 1, true), 'summary says dry run')
  T.ok(log:find('3 locks, 3 codes would be deleted', 1, true), 'summary counts')
  T.ok(not log:find('101_grace', 1, true), 'the in-grace code is not listed')
  remember_tokens()
end)

T.case('purge deletes the expired codes; valid, in-grace and permanent ones stay', function()
  fresh_state(seed_codes)
  local dir = purge_site('purge-real', false)
  scheduled(dir, 'purge_scheduled.lua')
  local st = T.get_state()
  T.eq(ids_of(st, 1001), { 502, 503, 504 }, 'room 101 keeps grace, valid, permanent')
  T.eq(ids_of(st, 1002), {}, 'room 102 expired code gone')
  T.eq(ids_of(st, 2001), { 507 }, 'main door keeps its permanent code')
  local log = K.log_text(dir)
  T.ok(log:find('purge Room 101 (lock 1001):', 1, true), 'per-lock line')
  T.ok(log:find('purge done: 3 locks, 3 codes deleted, 0 codes failed, 0 locks failed', 1, true), 'summary: ' .. log)
  T.eq(K.alert_text(dir), '', 'no alert')
  remember_tokens()
end)

T.case('purge_every_days: expired codes known to the module wait until the lock is due; the log says why', function()
  local soon = os.time() * 1000 + 2000
  fresh_state(function(st)
    for _, l in ipairs(st.locks) do
      if l.lock_id == 1001 then
        l.passcodes = { { keyboard_pwd_id = 601, keyboard_pwd = '31415', name = '101_soon', type = 3,
          start_ms = soon - DAY, end_ms = soon, is_custom = true, create_ms = soon - DAY } }
      end
    end
  end)
  local dir = new_site('purge-every', concat(K.room_block('32/1/0', 1001, '101'), K.room_block('32/1/16', 1002, '102')),
    { purge_dry_run = false, purge_grace_s = 0, purge_every_days = 7 })
  scheduled(dir, 'purge_scheduled.lua')
  local log = K.log_text(dir)
  T.ok(log:find('purge Room 101 (lock 1001): 1 listed (first listing), 0 expired', 1, true), 'first run lists: ' .. log)
  os.execute('sleep 3')
  T.reset_counters()
  scheduled(dir, 'purge_scheduled.lua')
  T.eq(requests('/v3/lock/listKeyboardPwd'), 0, 'no listing: the lock was purged moments ago')
  T.eq(requests('/v3/keyboardPwd/delete'), 0, 'nothing deleted')
  T.eq(ids_of(T.get_state(), 1001), { 601 }, 'the expired code waits')
  log = K.log_text(dir)
  T.ok(log:find('purge Room 101 (lock 1001): 1 known from the module\'s records, not listed '
    .. '(1 expired wait: purged less than 7 days ago), 0 expired, 0 deleted', 1, true), 'why: ' .. log)
  T.ok(log:find('purge Main door (lock 2001): 0 known from the module\'s records, not listed (nothing expired)', 1, true),
    'the main door: ' .. log)
  T.eq(K.alert_text(dir), '', 'no alert')
end)

T.case('purge_every_days = \'budget\': the monthly API budget decides, and the log says so', function()
  fresh_state()
  local blocks = concat(K.room_block('32/1/0', 1001, '101'), K.room_block('32/1/16', 1002, '102'))
  for _, case in ipairs({ { 100000, 1 }, { 300, 4 } }) do
    local dir = new_site('purge-budget-' .. case[1], blocks,
      { purge_dry_run = true, purge_every_days = 'budget', api_budget = case[1] })
    T.reset_counters()
    scheduled(dir, 'purge_scheduled.lua')
    local log = K.log_text(dir)
    T.ok(log:find(string.format('purge: the API budget lists a lock with expired codes every %d day(s)', case[2]), 1, true),
      'budget ' .. case[1] .. ': ' .. log)
    T.eq(requests('/v3/lockRecord/list') + requests('/v3/lock/list'), 0, 'the plan itself calls nothing')
  end
end)

T.case('purge renews tokens that expire within a week', function()
  fresh_state()
  -- A site that only purges: its stored token runs out in a day.
  local dir = new_site('purge-renew', K.room_block('32/1/0', 1001, '101'),
    { username = NONE, password_md5 = NONE, purge_dry_run = true })
  local seed = dir .. '/seed-storage.lua'
  K.writefile(seed, string.format('storage.set(%q, { access_token = %q, refresh_token = %q, expires_at_ms = %.0f })\n',
    'ttlock_tokens', FIX.tokens[1].access_token, FIX.tokens[1].refresh_token, (os.time() + 86400) * 1000))
  T.eq((lm_run{ site = dir, script = seed }), 0, 'storage seeded')
  scheduled(dir, 'purge_scheduled.lua')
  local c = T.counters()
  T.eq(c.token_refreshes, 1, 'one refresh')
  local tok = dump(dir).storage.ttlock_tokens
  T.ok(tok and tok.access_token ~= FIX.tokens[1].access_token, 'a new access token in storage')
  T.ok(tok and tonumber(tok.expires_at_ms) and tonumber(tok.expires_at_ms) > (os.time() + 7 * 86400) * 1000,
    'good for more than a week')
  remember_tokens()
end)

---------------------------------------------------------------------------------------------------
-- Tokens

T.case('tokens move from the forum objects into storage, and the objects are cleared', function()
  fresh_state()
  local tok = FIX.tokens[1]
  local dir = new_site('migrate', concat(K.legacy_token_objects('32/7/0', tok.access_token, tok.refresh_token),
    { K.unlock_object('32/2/0', 2001, 'Main door unlock') }), { username = NONE, password_md5 = NONE })
  event(dir, 'unlock_event.lua', '32/2/0', true)
  T.eq(K.lock(T.get_state(), 2001).open_state, 1, 'the migrated token works')
  local d = dump(dir)
  T.eq(d.storage.ttlock_tokens and d.storage.ttlock_tokens.access_token, tok.access_token, 'access token in storage')
  T.eq(d.storage.ttlock_tokens and d.storage.ttlock_tokens.refresh_token, tok.refresh_token, 'refresh token in storage')
  T.eq(d.values['32/7/0'], '', 'access token object cleared')
  T.eq(d.values['32/7/1'], '', 'refresh token object cleared')
  T.eq(T.counters().token_grants, 0, 'no login needed')
  T.ok(K.log_text(dir):find('moved the tokens from the objects', 1, true), 'the move is logged')
  -- A second run uses storage; the objects stay empty.
  event(dir, 'unlock_event.lua', '32/2/0', true)
  d = dump(dir)
  T.eq(d.values['32/7/0'], '', 'still empty')
  local _, n = K.log_text(dir):gsub('moved the tokens', '')
  T.eq(n, 1, 'moved once')
  remember_tokens()
end)

T.case('an expired access token between two check-ins is refreshed once', function()
  fresh_state()
  local tok = FIX.tokens[1]
  local dir = new_site('expired', concat(K.legacy_token_objects('32/7/0', tok.access_token, tok.refresh_token),
    K.room_block('32/1/0', 1001, '101', { code = '48213' }),
    K.room_block('32/1/16', 1002, '102', { code = '59324' })), { username = NONE, password_md5 = NONE })
  event(dir, 'passcode_event.lua', '32/1/0', true)
  T.ok(K.passcode_by_code(K.lock(T.get_state(), 1001), '48213'), 'first check-in done')
  T.expire_tokens()
  event(dir, 'passcode_event.lua', '32/1/16', true)
  local st = T.get_state()
  T.ok(K.passcode_by_code(K.lock(st, 1002), '59324'), 'second check-in done after the refresh: '
    .. tostring(dump(dir).values['32/1/25']))
  T.ok(K.passcode_by_code(K.lock(st, 2001), '59324'), 'main door too')
  local c = T.counters()
  T.eq(c.token_refreshes, 1, 'exactly one refresh')
  T.eq(c.token_grants, 0, 'no login')
  local stored = dump(dir).storage.ttlock_tokens
  T.ok(stored and stored.access_token ~= tok.access_token, 'the new access token is in storage')
  T.ok(stored and stored.refresh_token ~= tok.refresh_token, 'the rotated refresh token is in storage')
  remember_tokens(st)
end)

T.case('with LM\'s write delay every script works: no read-back of its own writes', function()
  fresh_state()
  local DELAY = 0.5
  local slow = { LM_GRP_DELAY = tostring(DELAY) }
  -- Until every write has landed (hosts without LuaSocket have a clock of whole seconds: the
  -- emulator lands a write a second later there).
  local settle_s = DELAY + (pcall(require, 'socket') and 0.2 or 2)
  local function settle() os.execute('sleep ' .. settle_s) end
  local from, to = K.at(1, 14), K.at(4, 11)
  local dir = new_site('delayed', concat(K.room_block('32/1/0', 1001, '101', { code = '', from = from, to = to, checkout = true }),
    { K.unlock_object('32/2/0', 2001, 'Main door unlock') }))

  event(dir, 'passcode_event.lua', '32/1/0', false, slow)
  settle()
  local d = dump(dir)
  local code = d.values['32/1/1']
  T.ok(type(code) == 'string' and code:match('^%d%d%d%d%d$'), 'new code in +1: ' .. tostring(code))
  T.ok(d.values['32/1/9']:find('New code generated', 1, true), '+9: ' .. d.values['32/1/9'])

  event(dir, 'passcode_event.lua', '32/1/0', true, slow)
  settle()
  local st = T.get_state()
  local room = K.passcode_by_code(K.lock(st, 1001), code)
  T.ok(room and K.passcode_by_code(K.lock(st, 2001), code), 'the new code on the room and the main door')
  d = dump(dir)
  local fd, td = K.date_time(from), K.date_time(to)
  T.eq(d.values['32/1/2'], '101_' .. K.ddmm(fd) .. K.ddmm(td), '+2')
  T.eq(d.values['32/1/8'], room and room.keyboard_pwd_id, '+8')
  T.ok(d.values['32/1/9']:find('^Room 101: code ' .. code .. ' active'), '+9 the last status: ' .. d.values['32/1/9'])

  event(dir, 'unlock_event.lua', '32/2/0', true, slow)
  T.eq(K.lock(T.get_state(), 2001).open_state, 1, 'unlocked')

  event(dir, 'checkout_event.lua', '32/1/7', true, slow)
  settle()
  st = T.get_state()
  T.ok(not K.passcode_by_code(K.lock(st, 1001), code) and not K.passcode_by_code(K.lock(st, 2001), code),
    'checked out: ' .. tostring(dump(dir).values['32/1/9']))
  d = dump(dir)
  T.eq(d.values['32/1/8'], 0, '+8 cleared')
  T.ok(d.values['32/1/1'] ~= code, 'a fresh code in +1')

  scheduled(dir, 'purge_scheduled.lua', slow)
  T.ok(K.log_text(dir):find('purge done (dry run', 1, true), 'purge ran')
  T.eq(T.lm().read_entries(dir .. '/readback.txt'), {}, 'no script read back its own write')
  T.eq(T.lm().read_events(dir), {}, 'no write started an event script')
  remember_tokens()
end)

T.case('no script wrote an object whose event script would start again (+0, UnlockDoor), nor read back a write', function()
  T.ok(#sites >= 10, 'sites: ' .. #sites)
  for _, dir in ipairs(sites) do
    T.eq(T.lm().read_events(dir), {}, 'event scripts started by writes in ' .. dir)
    T.eq(T.lm().read_entries(dir .. '/readback.txt'), {}, 'read-backs in ' .. dir)
  end
end)

T.case('no secret in any log, alert, error or object value of any site', function()
  T.ok(#sites >= 10, 'sites to scan: ' .. #sites)
  remember_tokens()
  for _, dir in ipairs(sites) do
    local d = dump(dir)
    local found = K.scan_secrets(d, dir, secrets)
    T.eq(found, {}, 'secrets in ' .. dir)
  end
end)

T.done()
