-- The +9 status, the log and the alerts of the failure cases the integrators meet first, through
-- the LM scripts in the LM emulator against the simulator: each is the module's own advice, one
-- plain line that says what happened and what to do. -4043 on an unlock (Remote unlock off), a
-- new site with no tokens and no username/password_md5, a missing ttlock.so (no search-path
-- dump), a ttlock.so that cannot be loaded.
local T = require('testlib')
local S = require('scriptsite')
local K = S.K
local NONE = S.NONE

-- The text of every log entry of a site, without LM's '* string: ' prefix.
local function log_lines(dir)
  local out = {}
  for _, e in ipairs(T.log_entries(dir)) do out[#out + 1] = (e.text:gsub('^%* string: ', '')) end
  return out
end

local function alert_lines(dir)
  local out = {}
  for _, e in ipairs(T.alert_entries(dir)) do out[#out + 1] = (e.text:gsub('^%* string: ', '')) end
  return out
end

local function has(list, line, what)
  for _, l in ipairs(list) do
    if l == line then return T.ok(true) end
  end
  T.ok(false, what .. ': no line "' .. line .. '" in:\n' .. table.concat(list, '\n'))
end

local function no_dump(dir, status)
  local all = table.concat(log_lines(dir), '\n') .. '\n' .. table.concat(alert_lines(dir), '\n') .. '\n'
    .. tostring(status)
  for _, bad in ipairs({ 'no file', "package.preload", 'no field', '\n\t' }) do
    T.ok(not all:find(bad, 1, true), 'search-path dump ("' .. bad .. '") in:\n' .. all)
  end
end

T.case('-4043 on an unlock: turn on Remote unlock for this lock in the TTLock app (log and alert)', function()
  S.fresh_state(function(st) T.find_lock(st, 1002).remote_unlock = false end)
  local dir = S.new_site('status_4043', { K.unlock_object('32/2/1', 1002, 'Room 102 unlock') })
  S.event(dir, 'unlock_event.lua', '32/2/1', true)
  local line = 'TTLock: unlock Room 102 unlock (lock 1002) failed: Remote unlock is off for this lock: turn it'
    .. ' on in the TTLock app (lock settings, Remote unlock)'
  has(alert_lines(dir), line, 'alert')
  local logs = table.concat(log_lines(dir), '\n')
  T.ok(logs:find(line, 1, true), 'log: ' .. logs)
  T.ok(not logs:find('does not support', 1, true), 'not "does not support"')
  S.remember_tokens()
end)

T.case('a new site with no tokens and no username/password_md5: +9, log and alert say to log in', function()
  S.fresh_state()
  local dir = S.new_site('status_nologin', S.room('32/1/0', 1001, '101', { code = '48213' }),
    { username = NONE, password_md5 = NONE })
  S.event(dir, 'passcode_event.lua', '32/1/0', true)
  local status = S.dump(dir).values['32/1/9']
  local advice = 'no TTLock login yet: set username and password_md5 (the TTLock app account) in ttlock_config,'
    .. ' or paste fresh tokens'
  T.eq(status, 'Check-in failed, no door has the code: ' .. advice, '+9: the reason once')
  T.ok(not tostring(status):find('rejected the login', 1, true), '+9 not "rejected the login"')
  local all = table.concat(log_lines(dir), '\n') .. table.concat(alert_lines(dir), '\n')
  T.ok(all:find(advice, 1, true), 'log: ' .. all)
  T.ok(not all:find('rejected the login', 1, true), 'log not "rejected the login"')
  T.eq(T.requests('/v3/keyboardPwd/add'), 0, 'nothing sent')
end)

T.case('a missing ttlock.so: one plain line in +9, the log and the alert', function()
  S.fresh_state()
  local empty = T.tmpdir()
  local dir = S.new_site('status_noso', S.concat(S.room('32/1/0', 1001, '101', { code = '48213' }),
    { K.unlock_object('32/2/0', 2001, 'Main door unlock') }), { cpath = empty .. '/?.so' })
  S.event(dir, 'passcode_event.lua', '32/1/0', true)
  local text = 'ttlock.so not found in ' .. empty .. '/: upload it there (see README, Install)'
  local status = S.dump(dir).values['32/1/9']
  T.eq(status, 'Error: ' .. text, '+9')
  has(log_lines(dir), 'TTLock: setup failed: ' .. text, 'log')
  has(alert_lines(dir), 'TTLock: setup failed: ' .. text, 'alert')
  S.event(dir, 'unlock_event.lua', '32/2/0', true)
  T.eq(#alert_lines(dir), 2, 'the unlock says the same')
  has(alert_lines(dir), 'TTLock: setup failed: ' .. text, 'unlock alert')
  no_dump(dir, status)
  T.eq(T.total_requests(), 0, 'no request')
end)

T.case('a ttlock.so that cannot be loaded: which file, and to install the build for this controller', function()
  S.fresh_state()
  local folder = T.tmpdir()
  T.write_file(folder .. '/ttlock.so', 'not an ELF file\n')
  local dir = S.new_site('status_badso', S.room('32/1/0', 1001, '101', { code = '48213' }), { cpath = folder .. '/?.so' })
  S.event(dir, 'passcode_event.lua', '32/1/0', true)
  local status = tostring(S.dump(dir).values['32/1/9'])
  T.ok(status:find('^Error: ttlock%.so in ' .. folder:gsub('%p', '%%%0') .. '/ttlock%.so cannot be loaded %(')
    and status:find('install the build for this controller (see README, Install, step 1)', 1, true), '+9: ' .. status)
  T.ok(#status <= 250, '+9 fits')
  no_dump(dir, status)
end)

T.case('the door events resident script says a broken setup once, not every minute', function()
  local empty = T.tmpdir()
  local dir = S.new_site('status_resident', S.room('32/1/0', 1001, '101', { code = '48213' }),
    { cpath = empty .. '/?.so' })
  local f = dir .. '/resident-loop.lua'
  -- Three runs in one process, as LM runs a resident script.
  K.writefile(f, "local M = require('user.ttlock')\nfor i = 1, 3 do M.door_events(os.time() * 1000 + i * 60000) end\n")
  local code, out = S.lm_run{ site = dir, script = f }
  T.eq(code, 0, 'the loop runs: ' .. out)
  T.eq(T.count(K.alert_text(dir), 'setup failed'), 1, 'one alert: ' .. K.alert_text(dir))
  T.eq(T.count(K.log_text(dir), 'setup failed'), 1, 'one log line')
end)

T.done()
