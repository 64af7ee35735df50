-- The pure helpers of the LM user library (lua/user/ttlock.lua): lock id and room name parsing,
-- error texts from the module's advice, cpath handling, the settings
-- template. The check-in rules and the stay texts are the module's (tests/lua/test_operations.lua, src/ops/stay).
local T = require('testlib')
package.path = T.env.repo .. '/lua/?.lua;' .. package.path
package.loaded.ttlock = nil
local M = require('user.ttlock')

T.case('lock id from a LockId:<digits> comment', function()
  T.eq(M.lock_id_from_comment('LockId:1234567'), 1234567)
  T.eq(M.lock_id_from_comment('Room 101 door, LockId: 7654321 (front)'), 7654321)
  T.eq(M.lock_id_from_comment('LockId:'), nil)
  T.eq(M.gateway_id_from_comment('Floor 2 gateway, GatewayId: 42'), 42)
  T.eq(M.gateway_id_from_comment('LockId:1234567'), nil, 'a lock id is no gateway id')
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

T.case('why the purge listed a lock or not, in words for the log', function()
  T.eq(M.purge_reason({ reason = 'never_listed' }, 7), 'first listing')
  T.eq(M.purge_reason({ reason = 'full_sweep' }, 7), 'weekly full listing')
  T.eq(M.purge_reason({ reason = 'expired' }, nil), 'expired codes')
  T.eq(M.purge_reason({ reason = 'capacity', known = 203 }, 7), "expired codes and 203 codes known: near the lock's 250")
  T.eq(M.purge_reason({ reason = 'nothing_expired' }, 7), 'nothing expired')
  T.eq(M.purge_reason({ reason = 'listed_recently', waiting = 2 }, 7), '2 expired wait: purged less than 7 days ago')
  T.eq(M.purge_reason({ reason = 'listed_recently', waiting = 1 }, nil), '1 expired wait: purged less than a day ago')
  T.eq(M.purge_reason({ reason = 'listed_recently', waiting = 1 }, 0.5), '1 expired wait: purged less than 0.5 days ago')
  -- An older module without reasons: its source.
  T.eq(M.purge_reason({ source = 'ledger' }, 7), 'ledger')
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
  T.eq(template.purge_every_days, 'budget', 'the template lets the API budget decide how often a lock is purged')
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

T.case('the month\'s call count is TTLock\'s month (Beijing time); staff times are milliseconds', function()
  -- 2026-12-31 16:00 UTC is 2027-01-01 00:00 in Beijing.
  local turn = 1798732800000
  T.eq(M.ttlock_month(turn - 1000), '2026-12')
  T.eq(M.ttlock_month(turn), '2027-01')
  local st = { calls = 4500, calls_month = '2026-12' }
  T.eq(M.calls_this_month(st, turn - 1000), 4500, 'the same month: the count')
  T.eq(M.calls_this_month(st, turn), 0, 'a new month starts at 0, not at last month\'s 4500')
  T.eq(M.staff_time_ms(1780000000), nil, 'seconds are refused')
  T.eq(M.staff_time_ms(1780000000000), 1780000000000, 'milliseconds pass')
end)

T.done()
