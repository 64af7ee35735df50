-- Staff codes through the LM scripts (lua/scripts/purge_scheduled.lua over lua/user/ttlock.lua),
-- each run a separate process through the LM emulator, against the simulator: the daily script
-- syncs staff_codes before the purge (adds, then nothing for unchanged settings, a new code, a
-- revoked one), a collision with a guest's code is logged and alerted, not forced, bad settings
-- are refused without a call, and no log line, alert or object ever holds a staff code's digits.
-- Room 101 (lock 1001) is on gateway 1, the main door (2001) and room 102 (1002) on gateway 2.
local T = require('testlib')
local S = require('scriptsite')
local K = S.K
local scheduled, event, dump, fresh_state, new_site, concat, requests =
  S.scheduled, S.event, S.dump, S.fresh_state, S.new_site, S.concat, S.requests

local CLEANING, CLEANING_NEW, MANAGER = '24681357', '86420975', '13579246'
local GUEST = '73920518'
S.secrets['staff code Cleaning'] = CLEANING
S.secrets['staff code Cleaning (new)'] = CLEANING_NEW
S.secrets['staff code Manager'] = MANAGER

-- The site's settings as S.new_site writes them, with `extra` on top (to rewrite them later).
local function config(dir, extra)
  local c = {
    client_id = S.FIX.app.client_id, client_secret = S.FIX.app.client_secret,
    api_base = T.env.base_url, ca_file = T.env.ca_file, state_dir = dir .. '/state',
    username = S.FIX.users[1].username, password_md5 = S.FIX.users[1].password_md5,
    common_doors = { { lock_id = 2001, name = 'Main door' } },
    purge_grace_s = 86400, purge_dry_run = false, cpath = T.env.cpath,
  }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

local function blocks()
  return concat(K.room_block('32/1/0', 1001, '101'), K.room_block('32/1/16', 1002, '102'))
end

local function codes_named(lock_id, name)
  local out = {}
  for _, p in ipairs((K.lock(T.get_state(), lock_id) or {}).passcodes or {}) do
    if p.name == name then out[#out + 1] = p end
  end
  return out
end

local function no_digits(dir)
  local text = K.log_text(dir) .. K.alert_text(dir)
  for _, code in ipairs({ CLEANING, CLEANING_NEW, MANAGER }) do
    T.ok(not text:find(code, 1, true), 'no staff code digits in the log or alerts')
  end
end

T.case('the daily script syncs the staff codes before the purge; unchanged settings cost no call', function()
  fresh_state()
  local staff = {
    { name = 'Cleaning', code = CLEANING, doors = 'rooms' },
    { name = 'Manager', code = MANAGER, doors = 'all', valid_from = '2026-01-01 08:00', valid_to = '2099-12-31 18:00' },
  }
  local dir = new_site('staff-sync', blocks(), { purge_dry_run = false, staff_codes = staff })
  scheduled(dir, 'purge_scheduled.lua')
  local log = K.log_text(dir)
  T.eq(requests('/v3/keyboardPwd/add'), 5, 'one add per code and door')
  T.ok(log:find('TTLock: staff codes: Cleaning on Room 101: added (permanent)', 1, true), 'log: ' .. log)
  T.ok(log:find('TTLock: staff codes: Manager on Main door: added (for its period)', 1, true), 'log: ' .. log)
  T.ok(log:find('TTLock: staff codes: 5 added', 1, true), 'summary: ' .. log)
  T.ok(log:find('staff codes: 5 added', 1, true) < log:find('purge done', 1, true), 'the sync runs before the purge')
  T.eq(K.alert_text(dir), '', 'no alert')
  local m = codes_named(2001, 'Manager')
  T.eq(#m, 1, 'manager on the main door')
  T.eq(m[1] and m[1].type, 3, 'a period code')
  T.eq(m[1] and m[1].keyboard_pwd, MANAGER, 'its digits on the lock')
  T.eq(#codes_named(1002, 'Cleaning'), 1, 'cleaning on room 102')
  -- The record in LM storage: names and ids, never the digits.
  local d = K.dump(S.lm_run, dir, { 'ttlock_staff' })
  local rec = d.storage.ttlock_staff
  T.eq(type(rec) == 'table' and #rec.codes, 5, 'the record in LM storage')
  for _, e in ipairs(rec.codes) do
    T.ok(e.digest ~= CLEANING and e.digest ~= MANAGER, 'a digest, not the digits')
  end

  -- The next day, nothing changed: no add, change or delete of a staff code.
  T.reset_counters()
  scheduled(dir, 'purge_scheduled.lua')
  T.eq(requests('/v3/keyboardPwd/add') + requests('/v3/keyboardPwd/change') + requests('/v3/keyboardPwd/delete'), 0,
    'unchanged settings: no staff call')
  T.ok(K.log_text(dir):find('TTLock: staff codes: 5 unchanged', 1, true), 'summary: ' .. K.log_text(dir))

  -- A new cleaning code, the manager revoked.
  K.write_config(dir, config(dir, { staff_codes = { { name = 'Cleaning', code = CLEANING_NEW, doors = 'rooms' } } }))
  T.reset_counters()
  scheduled(dir, 'purge_scheduled.lua')
  log = K.log_text(dir)
  T.eq(requests('/v3/keyboardPwd/change'), 2, 'a change per room')
  T.eq(requests('/v3/keyboardPwd/delete'), 3, 'the manager removed from three doors')
  T.ok(log:find('TTLock: staff codes: Cleaning on Room 102: changed (new code)', 1, true), 'log: ' .. log)
  T.ok(log:find('TTLock: staff codes: Manager on Main door: removed (no longer in the settings)', 1, true), 'log: ' .. log)
  T.eq(#codes_named(2001, 'Manager'), 0, 'manager gone')
  T.eq(codes_named(1001, 'Cleaning')[1].keyboard_pwd, CLEANING_NEW, 'new digits on room 101')
  T.eq(K.alert_text(dir), '', 'no alert for changes')
  no_digits(dir)
end)

T.case('a staff code that collides with a guest code is logged and alerted, not forced', function()
  fresh_state()
  local from, to = K.at(1, 14), K.at(3, 11)
  local objs = concat(K.room_block('32/1/0', 1001, '101', { code = GUEST, from = from, to = to }),
    K.room_block('32/1/16', 1002, '102'))
  local dir = new_site('staff-collision', objs, { staff_codes = { { name = 'Porter', code = GUEST, doors = 'all' } } })
  event(dir, 'passcode_event.lua', '32/1/0', true)
  T.reset_counters()
  scheduled(dir, 'purge_scheduled.lua')
  T.eq(requests('/v3/keyboardPwd/add'), 1, 'only room 102 gets it')
  local log, alerts = K.log_text(dir), K.alert_text(dir)
  T.ok(log:find("Porter on Room 101: collides with a guest's code on Room 101: choose another staff code", 1, true), log)
  T.ok(alerts:find("TTLock: staff codes: Porter on Main door: collides with a guest's code on Main door", 1, true), alerts)
  T.eq(#codes_named(1001, 'Porter'), 0, 'not forced onto the guest door')
  T.eq(#codes_named(1002, 'Porter'), 1, 'added where no guest has it')
end)

T.case('bad staff settings are refused, logged and alerted, and nothing is sent; the purge still runs', function()
  fresh_state()
  local dir = new_site('staff-bad', blocks(), { staff_codes = {
    { name = 'Cleaning', code = CLEANING, doors = 'rooms' }, { name = 'cleaning', code = MANAGER, doors = 'common' } } })
  scheduled(dir, 'purge_scheduled.lua')
  T.eq(requests('/v3/keyboardPwd/add'), 0, 'nothing sent')
  local log = K.log_text(dir)
  T.ok(log:find('staff codes: settings refused, nothing sent:', 1, true) and log:find('names must be unique', 1, true), log)
  T.ok(K.alert_text(dir):find('staff codes: settings refused', 1, true), 'alert')
  T.ok(log:find('purge done', 1, true), 'the purge ran')
  local dir2 = new_site('staff-badtime', blocks(), { staff_codes = {
    { name = 'Summer', code = CLEANING, doors = 'rooms', valid_from = '01.06.2027', valid_to = '2027-08-31 18:00' } } })
  scheduled(dir2, 'purge_scheduled.lua')
  T.ok(K.log_text(dir2):find("staff code 'Summer': valid_from must be 'YYYY-MM-DD HH:MM'", 1, true), K.log_text(dir2))
  no_digits(dir)
  no_digits(dir2)
end)

T.case('no staff code digits in any log, alert or object of the staff sites', function()
  for _, dir in ipairs(S.sites) do
    local found = K.scan_secrets(dump(dir), dir, {
      ['staff code Cleaning'] = CLEANING, ['staff code Cleaning (new)'] = CLEANING_NEW,
      ['staff code Manager'] = MANAGER })
    T.eq(found, {}, 'digits in ' .. dir)
  end
end)

T.done()
