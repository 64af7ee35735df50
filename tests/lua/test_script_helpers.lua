-- The pure helpers of the LM user library (lua/user/ttlock.lua): lock id and room name parsing,
-- passcode names, code conversion, date checks, times (against the module's local_time_ms),
-- status texts, cpath handling.
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

T.case('passcode name <room>_<DDMM arrival><DDMM departure>', function()
  T.eq(M.passcode_name('101', { day = 1, month = 12, year = 2025 }, { day = 5, month = 12, year = 2025 }), '101_01120512')
  T.eq(M.passcode_name('1201', { day = 31, month = 1, year = 2026 }, { day = 2, month = 2, year = 2026 }), '1201_31010202')
end)

T.case('passcode from +1: strings keep leading zeros, numbers are written whole', function()
  T.eq(M.normalize_code('04821'), '04821')
  T.eq(M.normalize_code(' 48213 '), '48213')
  T.eq(M.normalize_code(48213), '48213')
  T.eq(M.normalize_code(123456789), '123456789')
  T.eq(M.normalize_code(4.8213e4), '48213')
  T.eq((M.normalize_code('123')), nil)
  T.eq((M.normalize_code('1234567890')), nil)
  T.eq((M.normalize_code('12a45')), nil)
  T.eq((M.normalize_code(1234.5)), nil)
  T.eq((M.normalize_code(-1234)), nil)
  T.eq((M.normalize_code(nil)), nil)
  T.eq(select(2, M.normalize_code('12')), 'the passcode must be 4 to 9 digits')
end)

T.case('LM dates and times are checked before they become times', function()
  local t = { day = 1, hour = 14, minute = 0, second = 0 }
  T.eq(M.check_date_time({ day = 29, month = 2, year = 2024 }, t, 'arrival'), true)
  T.eq(select(2, M.check_date_time({ day = 29, month = 2, year = 2025 }, t, 'arrival')), 'the arrival date is not a real date')
  T.eq(select(2, M.check_date_time({ day = 31, month = 4, year = 2025 }, t, 'arrival')), 'the arrival date is not a real date')
  T.eq(select(2, M.check_date_time(nil, t, 'departure')), 'the departure date is not set')
  T.eq(select(2, M.check_date_time({ day = 1, month = 1, year = 2026 }, { hour = 24, minute = 0 }, 'departure')),
    'the departure time is not set')
  T.eq(M.check_date_time({ day = 1, month = 1, year = 2026 }, { hour = 23, minute = 59 }, 'departure'), true,
    'a time without seconds')
end)

T.case('to_ms without the module equals ttlock.local_time_ms', function()
  local cases = {
    { { day = 1, month = 12, year = 2025 }, { hour = 14, minute = 0, second = 0 } },
    { { day = 29, month = 3, year = 2026 }, { hour = 1, minute = 30, second = 0 } },  -- EU DST day
    { { day = 25, month = 10, year = 2026 }, { hour = 3, minute = 15, second = 59 } },
    { { day = 29, month = 2, year = 2028 }, { hour = 23, minute = 59, second = 0 } },
  }
  local before = {}
  T.eq(package.loaded.ttlock, nil, 'the module is not loaded yet')
  for i, c in ipairs(cases) do before[i] = M.to_ms(c[1], c[2]) end
  local ttlock = require('ttlock')
  T.eq(type(ttlock.local_time_ms), 'function', 'the module has local_time_ms')
  for i, c in ipairs(cases) do
    T.eq(before[i], ttlock.local_time_ms(c[1], c[2]), 'case ' .. i)
    T.eq(M.to_ms(c[1], c[2]), before[i], 'case ' .. i .. ' through the module')
  end
end)

T.case('to_ms follows the controller time zone (TZ=Europe/Riga, across DST) like the module', function()
  local dir = T.tmpdir()
  local file = dir .. '/tz.lua'
  T.write_file(file, string.format([[
package.path = %q .. '/lua/?.lua;' .. package.path
package.cpath = %q .. ';' .. package.cpath
local M = require('user.ttlock')
local cases = {
  { { day = 1, month = 12, year = 2025 }, { hour = 14, minute = 0, second = 0 } },
  { { day = 1, month = 7, year = 2026 }, { hour = 14, minute = 0, second = 0 } },
  { { day = 29, month = 3, year = 2026 }, { hour = 2, minute = 59, second = 0 } },
  { { day = 25, month = 10, year = 2026 }, { hour = 5, minute = 0, second = 0 } },
}
local before = {}
for i, c in ipairs(cases) do before[i] = M.to_ms(c[1], c[2]) end
local ttlock = require('ttlock')
for i, c in ipairs(cases) do
  local m = ttlock.local_time_ms(c[1], c[2])
  print(string.format('case %%d %%.0f %%s', i, before[i], m == before[i] and 'same' or ('module ' .. tostring(m))))
end
]], T.env.repo, T.env.cpath or ''))
  local code, out = T.run('TZ=Europe/Riga ' .. T.lua_cmd(file))
  T.eq(code, 0, out)
  T.ok(out:find('case 1 1764590400000 same', 1, true), 'winter: UTC+2 ' .. out)
  T.ok(out:find('case 2 1782903600000 same', 1, true), 'summer: UTC+3 ' .. out)
  T.ok(out:find('case 3 %d+ same') and out:find('case 4 %d+ same'), 'DST change days: ' .. out)
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

T.case('errors in integrator words', function()
  T.eq(M.describe_error({ code = 'gateway_offline', message = 'x' }), 'gateway offline')
  T.eq(M.describe_error({ code = 'lock_offline' }), 'no gateway reaches the lock')
  T.eq(M.describe_error({ code = 'clock_skew' }), 'the controller clock is off: check NTP')
  T.eq(M.describe_error({ code = 'api_error', errcode = -2032, message = 'passcode too simple' }),
    'TTLock error -2032: passcode too simple')
  T.eq(M.describe_error({ code = 'invalid_argument', message = 'ttlock: bad' }), 'ttlock: bad')
  T.eq(M.err_detail({ code = 'gateway_busy', message = 'the gateway is busy' }), 'gateway busy, try again (the gateway is busy)')
  for _, code in ipairs({ 'not_configured', 'auth_failed', 'network', 'timeout', 'tls', 'http_status', 'bad_response',
    'passcode_exists', 'storage_full', 'not_supported', 'permission_denied', 'quota_exceeded', 'not_found' }) do
    local text = M.describe_error({ code = code, message = 'm' })
    T.ok(type(text) == 'string' and text ~= '' and text ~= code, code .. ' has words: ' .. tostring(text))
  end
end)

T.case('check-in outcome texts, door by door', function()
  local room = { doors = { { lock_id = 1001, name = 'Room 101' }, { lock_id = 2001, name = 'Main door' } } }
  local from = os.time({ year = 2025, month = 12, day = 1, hour = 14, min = 0, sec = 0 }) * 1000
  local to = os.time({ year = 2025, month = 12, day = 5, hour = 11, min = 0, sec = 0 }) * 1000
  local ok_text = M.checkin_outcome(room, '48213', from, to,
    { ok = true, locks = { { lock_id = 1001, ok = true, passcode_id = 11 }, { lock_id = 2001, ok = true, passcode_id = 12 } } })
  T.eq(ok_text, 'Room 101: code 48213 active 01.12 14:00\226\128\14705.12 11:00 (id 11); Main door: ok (id 12)')
  local rb = M.checkin_outcome(room, '48213', from, to, nil, { code = 'gateway_offline', rolled_back = true,
    locks = { { lock_id = 1001, ok = true, passcode_id = 11, rolled_back = true },
              { lock_id = 2001, ok = false, code = 'gateway_offline' } } })
  T.eq(rb, 'Check-in failed, no door has the code: Room 101: code removed again (rolled back); Main door: gateway offline')
  local left = M.checkin_outcome(room, '48213', from, to, nil, { code = 'gateway_offline', rolled_back = false,
    locks = { { lock_id = 1001, ok = true, passcode_id = 11, rolled_back = false, rollback_error = { code = 'timeout' } },
              { lock_id = 2001, ok = false, code = 'gateway_offline' } } })
  T.eq(left, 'Check-in INCOMPLETE: Room 101: code active (id 11), removing it failed: TTLock did not answer in time;'
    .. ' Main door: gateway offline')
  local lost = M.checkin_outcome(room, '48213', from, to, nil, { code = 'timeout', rolled_back = false,
    locks = { { lock_id = 1001, ok = true, passcode_id = 11 },
              { lock_id = 2001, ok = false, code = 'timeout', maybe_added = true } } })
  T.eq(lost, 'Check-in INCOMPLETE: Room 101: code active (id 11); Main door: TTLock did not answer in time'
    .. ' (the code may be on this door)', 'not atomic / nothing rolled back')
  local early = M.checkin_outcome(room, '48213', from, to, nil, { code = 'auth_failed', message = 'm' })
  T.eq(early, 'Check-in failed (no door changed): TTLock rejected the login: check client id/secret and the tokens'
    .. ' or username/password. Room 101: not changed; Main door: not changed')
end)

T.case('module diagnostics reach the LM log with the TTLock: prefix, request traces only on demand', function()
  local saved = rawget(_G, 'log')
  local lines = {}
  _G.log = function(s) lines[#lines + 1] = s end
  local ok, err = pcall(function()
    local sink = M.module_log_sink(false)
    sink('ttlock: POST /v3/keyboardPwd/add attempt=1/3 http=200 errcode=0 ms=12')
    sink('ttlock: POST /v3/keyboardPwd/add attempt=1/3 http=200 errcode=-3003 ms=12')
    sink('ttlock: access token refreshed')
    M.module_log_sink(true)('ttlock: GET /v3/lock/listKeyboardPwd attempt=1/3 http=200 errcode=0 ms=3')
  end)
  _G.log = saved
  assert(ok, err)
  T.eq(lines, {
    'TTLock: POST /v3/keyboardPwd/add attempt=1/3 http=200 errcode=-3003 ms=12',
    'TTLock: access token refreshed',
    'TTLock: GET /v3/lock/listKeyboardPwd attempt=1/3 http=200 errcode=0 ms=3',
  })
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
