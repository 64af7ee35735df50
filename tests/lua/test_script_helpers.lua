-- The pure helpers of the LM user library (lua/user/ttlock.lua): lock id and room name parsing,
-- status texts from the module's advice and per-door states, cpath handling, the settings
-- template. The check-in rules themselves are the module's (tests/lua/test_operations.lua).
local T = require('testlib')
package.path = T.env.repo .. '/lua/?.lua;' .. package.path
package.loaded.ttlock = nil
local M = require('user.ttlock')

T.case('lock id from a LockId:<digits> comment', function()
  T.eq(M.lock_id_from_comment('LockId:1234567'), 1234567)
  T.eq(M.lock_id_from_comment('Room 101 door, LockId: 7654321 (front)'), 7654321)
  T.eq(M.lock_id_from_comment('LockId:'), nil)
  T.eq(M.lock_id_from_comment('lockid:12'), nil, 'the forum spelling is kept exactly')
  T.eq(M.lock_id_from_comment(nil), nil)
end)

T.case('room name is the whole text after Room_', function()
  T.eq(M.room_name('PassCode, Room_101'), '101', 'the forum script made this 10')
  T.eq(M.room_name('Room_1201, PassCode'), '1201')
  T.eq(M.room_name({ 'PassCode', 'Room_Suite 3' }), 'Suite 3')
  T.eq(M.room_name({ tagcache = 'PassCode, Room_A2' }), 'A2')
  T.eq(M.room_name('PassCode'), nil)
  T.eq(M.room_name('PassCode, Room_'), nil)
end)

T.case('window text, clipping and addresses', function()
  local from = os.time({ year = 2025, month = 12, day = 1, hour = 14, min = 0, sec = 0 }) * 1000
  local to = os.time({ year = 2025, month = 12, day = 5, hour = 11, min = 0, sec = 0 }) * 1000
  T.eq(M.fmt_window(from, to), '01.12 14:00\226\128\14705.12 11:00')
  local long = string.rep('a', 246) .. '\226\128\147xyz'
  T.eq(M.clip(long), string.rep('a', 246) .. '...', 'no half character')
  T.eq(#M.clip(string.rep('b', 400)), 250)
  T.eq(M.clip('short'), 'short')
  T.eq(M.ga_to_raw('1/2/3'), 2563)
  T.eq(M.raw_to_ga(M.ga_to_raw('1/2/250') + 9), '1/3/3', 'carry into the middle group')
  T.eq(M.raw_to_ga(M.ga_to_raw('32/1/0') + 9), '32/1/9')
end)

T.case('errors in the words of the module: the advice for the status, the message for the log', function()
  T.eq(M.describe_error({ code = 'gateway_offline', message = 'lock 5: m', advice = 'the gateway is offline: check its power and network' }),
    'the gateway is offline: check its power and network')
  T.eq(M.describe_error({ code = 'x', message = 'only a message' }), 'only a message')
  T.eq(M.describe_error('plain'), 'plain')
  T.eq(M.err_detail({ code = 'gateway_busy', message = 'lock 5: busy (TTLock errcode -3003)', advice = 'the gateway is busy: try again in a minute' }),
    'the gateway is busy: try again in a minute (lock 5: busy (TTLock errcode -3003))')
  T.eq(M.err_detail({ code = 'invalid_argument', message = 'bad', advice = 'bad' }), 'bad', 'no repeat')
end)

T.case('check-in outcome texts, door by door, from the per-lock state', function()
  local room = { doors = { { lock_id = 1001, name = 'Room 101' }, { lock_id = 2001, name = 'Main door' } } }
  local from = os.time({ year = 2025, month = 12, day = 1, hour = 14, min = 0, sec = 0 }) * 1000
  local to = os.time({ year = 2025, month = 12, day = 5, hour = 11, min = 0, sec = 0 }) * 1000
  local offline = 'the gateway is offline: check its power and network'
  local ok_text = M.checkin_outcome(room, '48213', from, to,
    { ok = true, locks = { { lock_id = 1001, ok = true, state = 'active', passcode_id = 11 },
                           { lock_id = 2001, ok = true, state = 'active', passcode_id = 12 } } })
  T.eq(ok_text, 'Room 101: code 48213 active 01.12 14:00\226\128\14705.12 11:00 (id 11); Main door: ok (id 12)')
  local rb = M.checkin_outcome(room, '48213', from, to, nil, { code = 'gateway_offline', outcome = 'no_door_has_it',
    locks = { { lock_id = 1001, ok = true, state = 'rolled_back', passcode_id = 11, rolled_back = true },
              { lock_id = 2001, ok = false, state = 'failed', code = 'gateway_offline', advice = offline } } })
  T.eq(rb, 'Check-in failed, no door has the code: Room 101: code removed again (rolled back); Main door: ' .. offline)
  local left = M.checkin_outcome(room, '48213', from, to, nil, { code = 'gateway_offline', outcome = 'incomplete',
    locks = { { lock_id = 1001, ok = true, state = 'left', passcode_id = 11, rolled_back = false,
                rollback_error = { code = 'timeout', advice = 'TTLock did not answer in time: try again' } },
              { lock_id = 2001, ok = false, state = 'failed', code = 'gateway_offline', advice = offline } } })
  T.eq(left, 'Check-in INCOMPLETE: Room 101: code active (id 11), removing it failed: TTLock did not answer in time: try again;'
    .. ' Main door: ' .. offline)
  local lost = M.checkin_outcome(room, '48213', from, to, nil, { code = 'timeout', outcome = 'incomplete',
    locks = { { lock_id = 1001, ok = true, state = 'active', passcode_id = 11 },
              { lock_id = 2001, ok = false, state = 'maybe', code = 'timeout', advice = 'no answer in time' } } })
  T.eq(lost, 'Check-in INCOMPLETE: Room 101: code active (id 11); Main door: no answer in time'
    .. ' (the code may be on this door)', 'not atomic / nothing rolled back')
  local early = M.checkin_outcome(room, '48213', from, to, nil,
    { code = 'auth_failed', outcome = 'unchanged', message = 'm', advice = 'TTLock rejected the login: do this' })
  T.eq(early, 'Check-in failed (no door changed): TTLock rejected the login: do this.'
    .. ' Room 101: not changed; Main door: not changed')
end)

T.case('cpath is appended once, never replaced', function()
  local saved = package.cpath
  package.cpath = '/usr/lib/lua/?.so;'
  M.append_cpath('/home/ftp/ttlock/?.so')
  T.eq(package.cpath, '/usr/lib/lua/?.so;/home/ftp/ttlock/?.so')
  M.append_cpath('/home/ftp/ttlock/?.so')
  T.eq(package.cpath, '/usr/lib/lua/?.so;/home/ftp/ttlock/?.so', 'not twice')
  package.cpath = './?.so'
  M.append_cpath('/x/?.so')
  T.eq(package.cpath, './?.so;/x/?.so')
  package.cpath = saved
end)

T.case('the settings template configures the module (own keys dropped, the rest passed through)', function()
  -- The template as shipped, with the placeholders a site fills in.
  local template = dofile(T.env.repo .. '/lua/user/ttlock_config.lua')
  T.eq(template.purge_dry_run, true, 'the template starts with a dry run')
  T.eq(template.client_secret, 'YOUR_CLIENT_SECRET', 'placeholder secret')
  local dir = T.tmpdir()
  template.client_id, template.client_secret = 'cid-test', 'csecret-test'
  template.api_base, template.ca_file = T.env.base_url, T.env.ca_file
  template.state_dir, template.cpath = dir .. '/state', T.env.cpath
  T.lm().install_globals{ site = T.site({}) }
  package.loaded['user.ttlock_config'] = template
  local ttlock = M.module()
  T.eq(type(ttlock.token_info), 'function', 'module configured')
  T.eq(ttlock.token_info().has_access_token, false, 'no tokens yet on a new site')
end)

T.done()
