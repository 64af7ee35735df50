-- The demo's steps (started by tests/demo/run.sh, which starts the simulator and sets the
-- environment testlib reads). Every LM script runs as its own process through the LM emulator,
-- as on a controller. Exits non-zero when a check fails.
local T = require('testlib')
local K = require('sitekit')

local SCRIPTS = T.env.repo .. '/lua/scripts/'
local dir = assert(os.getenv('DEMO_DIR'), 'DEMO_DIR is not set (use tests/demo/run.sh)') .. '/site'
local failures = 0
local step_no = 0

local function step(title)
  step_no = step_no + 1
  print(string.format('\n== %d. %s', step_no, title))
end

local function check(cond, what)
  if cond then
    print('   [ok]   ' .. what)
  else
    print('   [FAIL] ' .. what)
    failures = failures + 1
  end
  return cond
end

local function lm_run(o)
  local code, out = T.lm_run(o)
  return code, out or ''
end

local seen_log, seen_alerts = 0, 0
local function new_log_lines()
  local entries = T.log_entries(dir)
  for i = seen_log + 1, #entries do
    -- LM shows log('text') as "* string: text"; the demo prints the text.
    local text = entries[i].text:gsub('^%* string: ', ''):gsub('\n', '\n          ')
    print('   log:   ' .. text)
  end
  seen_log = #entries
  local alerts = T.alert_entries(dir)
  for i = seen_alerts + 1, #alerts do
    print('   alert: ' .. alerts[i].text)
  end
  seen_alerts = #alerts
end

local function run_event(script, ga, value)
  print(string.format('   $ event %s <- %s  (%s)', ga, tostring(value), script))
  local code, out = lm_run{ site = dir, script = SCRIPTS .. script, event = ga, value = value }
  check(code == 0, script .. ' ran without a script error' .. (code == 0 and '' or (': ' .. out)))
  new_log_lines()
end

local function run_scheduled(script)
  print('   $ scheduled run (' .. script .. ')')
  local code, out = lm_run{ site = dir, script = SCRIPTS .. script }
  check(code == 0, script .. ' ran without a script error' .. (code == 0 and '' or (': ' .. out)))
  new_log_lines()
end

local function dump()
  return K.dump(lm_run, dir, { 'ttlock_tokens' })
end

local function show_objects(d, list)
  for _, ga in ipairs(list) do
    local v = d.values[ga]
    print(string.format('   %-8s %-26s = %s', ga, tostring(d.names[ga]),
      type(v) == 'string' and string.format('%q', v) or K.literal(v)))
  end
end

local function fmt(ms)
  return os.date('%d.%m %H:%M', math.floor(ms / 1000))
end

-- The simulator's view: every lock with its codes.
local function show_sim(title)
  local st = T.get_state()
  print('   simulator: ' .. title)
  local gw = {}
  for _, g in ipairs(st.gateways or {}) do gw[g.gateway_id] = g.name end
  for _, l in ipairs(st.locks or {}) do
    local gws = {}
    for _, g in ipairs(l.gateway_ids or {}) do gws[#gws + 1] = gw[g] or tostring(g) end
    print(string.format('     %-10s lock %d  gateway %-8s  %s', l.alias, l.lock_id, table.concat(gws, ','),
      l.open_state == 1 and 'OPEN' or 'closed'))
    for _, p in ipairs(l.passcodes or {}) do
      local window = p.type == 2 and 'permanent' or (fmt(p.start_ms) .. ' - ' .. fmt(p.end_ms))
      print(string.format('        id %-4d %-9s %-14s %s', p.keyboard_pwd_id, p.keyboard_pwd, p.name, window))
    end
  end
  return st
end

local function count_codes(st)
  local n = 0
  for _, l in ipairs(st.locks) do n = n + #(l.passcodes or {}) end
  return n
end

---------------------------------------------------------------------------------------------------

print('TTLock on LogicMachine: demo (' .. (jit and jit.version or _VERSION) .. ')')

step('The hotel as TTLock sees it')
local st0 = show_sim('three rooms on two gateways and a main door, some guests already gone')
local lock_of = {}
for _, l in ipairs(st0.locks) do lock_of[l.alias] = l.lock_id end
check(lock_of['Room 101'] and lock_of['Room 102'] and lock_of['Room 201'] and lock_of['Main door'],
  'the demo hotel has rooms 101, 102, 201 and a main door')
local tok = st0.tokens[1]

step('An LM site with the forum conventions, tokens still in the old objects')
local objects = {}
local blocks = { { '32/1/0', 'Room 101', '101' }, { '32/1/16', 'Room 102', '102' }, { '32/1/32', 'Room 201', '201' } }
for _, b in ipairs(blocks) do
  for _, o in ipairs(K.room_block(b[1], lock_of[b[2]], b[3], { code = '', checkout = true })) do objects[#objects + 1] = o end
end
objects[#objects + 1] = K.unlock_object('32/2/0', lock_of['Main door'], 'Main door unlock')
-- Door-event objects of room 201 and the site (tags and comments; see README "Door events").
local c201 = 'LockId:' .. lock_of['Room 201']
for _, o in ipairs({
  { address = '32/3/0', name = 'Room 201 guest arrived', datatype = K.dt.bool, value = false, comment = c201, tags = { 'GuestArrived' } },
  { address = '32/3/1', name = 'Room 201 last opened at', datatype = K.dt.text, value = '', comment = c201, tags = { 'LastOpenedAt' } },
  { address = '32/3/2', name = 'Room 201 last opened by', datatype = K.dt.text, value = '', comment = c201, tags = { 'LastOpenedBy' } },
  { address = '32/3/3', name = 'Room 201 battery', datatype = K.dt.uint32, value = 0, comment = c201, tags = { 'LockBattery' } },
  { address = '32/4/0', name = 'TTLock OK', datatype = K.dt.bool, value = false, tags = { 'TTLockOK' } },
  { address = '32/4/1', name = 'TTLock token days', datatype = K.dt.uint32, value = 0, tags = { 'TTLockTokenDays' } },
  { address = '32/4/2', name = 'TTLock API calls', datatype = K.dt.uint32, value = 0, tags = { 'TTLockApiCalls' } },
}) do objects[#objects + 1] = o end
for _, o in ipairs(K.legacy_token_objects('32/7/0', tok.access_token, tok.refresh_token)) do
  objects[#objects + 1] = o
end
local config = {
  client_id = st0.app.client_id, client_secret = st0.app.client_secret,
  api_base = T.env.base_url, ca_file = T.env.ca_file, state_dir = dir .. '/state',
  common_doors = { { lock_id = lock_of['Main door'], name = 'Main door' } },
  purge_grace_s = 86400, purge_dry_run = true, cpath = T.env.cpath, api_budget = 100000,
}
K.make_site{ dir = dir, objects = objects, interp = T.env.interp, repo = T.env.repo, config = config,
              event_scripts = K.event_scripts(T.env.repo) }
print('   site ' .. dir .. ': room blocks at 32/1/0, 32/1/16, 32/1/32 (tags PassCode + Room_<name>,')
print('   comment LockId:<digits>; +7 check-out, tag CheckOut), 32/2/0 UnlockDoor, 32/7/0-1 the forum\'s token objects;')
print('   user/ttlock_config.lua: the simulator\'s URL and CA, common door "Main door", purge_dry_run = true')
local d = dump()
check(d.values['32/7/0'] ~= '' and d.values['32/7/1'] ~= '', 'the old token objects hold tokens (as a forum site does)')

step('Room 201: trigger false generates a fresh code into +1')
run_event('passcode_event.lua', '32/1/32', false)
d = dump()
show_objects(d, { '32/1/33', '32/1/41' })
local code = d.values['32/1/33']
check(type(code) == 'string' and code:match('^%d%d%d%d%d$') ~= nil, 'a 5-digit code in +1')
check(d.values['32/7/0'] == '' and d.values['32/7/1'] == '', 'the token objects are cleared')
local stored = d.storage.ttlock_tokens
check(stored and stored.access_token and stored.refresh_token, 'the tokens live in LM storage now (key ttlock_tokens)')

step('Room 201: a guest arrives tomorrow 14:00 and leaves in three days at 11:00 (trigger true)')
local from_d, from_t = K.date_time(K.at(1, 14))
local to_d, to_t = K.date_time(K.at(3, 11))
local set_dates = dir .. '/set-dates.lua'
K.writefile(set_dates, string.format([[
grp.update('32/1/35', %s)
grp.update('32/1/36', %s)
grp.update('32/1/37', %s)
grp.update('32/1/38', %s)
]], K.literal(from_d), K.literal(from_t), K.literal(to_d), K.literal(to_t)))
check((lm_run{ site = dir, script = set_dates }) == 0, 'dates set in +3..+6 (as the visualisation would)')
run_event('passcode_event.lua', '32/1/32', true)
d = dump()
show_objects(d, { '32/1/33', '32/1/34', '32/1/35', '32/1/36', '32/1/37', '32/1/38', '32/1/40', '32/1/41' })
local st = show_sim('after the check-in')
local function has(lock_alias)
  local l = K.lock(st, lock_of[lock_alias])
  local p = K.passcode_by_code(l, code)
  return p and p.start_ms == K.ms(from_d, from_t) and p.end_ms == K.ms(to_d, to_t)
end
check(has('Room 201'), 'Room 201 has the code with the guest\'s window')
check(has('Main door'), 'the main door has the same code and window')
check(tostring(d.values['32/1/41']):find('^Room 201: code ' .. code .. ' active') ~= nil, '+9 tells the outcome per door')
check(d.values['32/1/34'] == '201_' .. K.ddmm(from_d) .. K.ddmm(to_d), '+2 holds the passcode name 201_DDMMDDMM')

step('Remote unlock of the main door (UnlockDoor object 32/2/0 <- true)')
run_event('unlock_event.lua', '32/2/0', true)
st = T.get_state()
check(K.lock(st, lock_of['Main door']).open_state == 1, 'the simulator shows the main door open')

step('Room 201: the guest stays two days longer (departure +5/+6 moved, trigger true again)')
local later_d, later_t = K.date_time(K.at(5, 11))
K.writefile(set_dates, string.format("grp.update('32/1/37', %s)\ngrp.update('32/1/38', %s)\n",
  K.literal(later_d), K.literal(later_t)))
check((lm_run{ site = dir, script = set_dates }) == 0, 'new departure set in +5/+6')
run_event('passcode_event.lua', '32/1/32', true)
d = dump()
show_objects(d, { '32/1/41' })
st = T.get_state()
local function ends(lock_alias)
  local p = K.passcode_by_code(K.lock(st, lock_of[lock_alias]), code)
  return p and p.end_ms
end
check(ends('Room 201') == K.ms(later_d, later_t) and ends('Main door') == K.ms(later_d, later_t),
  'both doors have the later departure (same code, same ids)')
check(tostring(d.values['32/1/41']):find('^Stay extended') ~= nil, '+9 says the stay was extended')

step('Door events: the resident script\'s first run (door_events_resident.lua, every 60 s on an LM)')
local function door_events_at(ms, label)
  print('   $ resident run (door_events_resident.lua), its clock at ' .. label)
  local f = dir .. '/door-events-at.lua'
  K.writefile(f, string.format("require('user.ttlock').door_events(%.0f)\n", ms))
  local code, out = lm_run{ site = dir, script = f }
  check(code == 0, 'door events ran without a script error' .. (code == 0 and '' or (': ' .. out)))
  new_log_lines()
end
door_events_at(os.time() * 1000, 'now')
d = dump()
show_objects(d, { '32/3/0', '32/3/1', '32/3/2', '32/3/3', '32/4/0', '32/4/2' })
check(d.values['32/4/0'] == true and d.values['32/3/3'] == K.lock(T.get_state(), lock_of['Room 201']).battery,
  'TTLock OK, and the battery as TTLock last heard it')
check(d.values['32/3/0'] == false, 'the guest has not arrived')

step('The guest of room 201 arrives tomorrow: the code on the main door at 15:07, on the room door at 15:09')
local arrive = K.at(1, 15, 7) * 1000
for _, k in ipairs({ { 'Main door', arrive }, { 'Room 201', arrive + 2 * 60000 } }) do
  local res = T.admin('POST', '/keypad', T.object{ lock_id = lock_of[k[1]], code = code, at_ms = k[2] })
  print(string.format('   keypad %-9s at %s: %s', k[1], fmt(k[2]), res.opens and 'opens' or ('refused (' .. tostring(res.reason) .. ')')))
  check(res.opens, k[1] .. ' opens with the guest\'s code')
end
door_events_at(arrive + 15 * 60000, fmt(arrive + 15 * 60000) .. ' tomorrow (the demo moves the script\'s clock)')
d = dump()
show_objects(d, { '32/3/0', '32/3/1', '32/3/2' })
check(d.values['32/3/0'] == true, 'GuestArrived is true (a welcome scene can start on it)')
check(d.values['32/3/2'] == d.values['32/1/34'], 'last opened by the stay\'s name, never the digits')
local log = K.log_text(dir)
check(log:find('guest of room 201', 1, true) ~= nil and not log:find(code, 1, true), 'the arrival is logged, without the code')

step('Daily purge, dry run (purge_dry_run = true)')
local before = count_codes(T.get_state())
run_scheduled('purge_scheduled.lua')
check(count_codes(T.get_state()) == before, 'nothing deleted (' .. before .. ' codes before and after)')

step('Daily purge for real (purge_dry_run = false in ttlock_config)')
config.purge_dry_run = false
K.write_config(dir, config)
run_scheduled('purge_scheduled.lua')
st = show_sim('after the purge')
local now = os.time() * 1000
local expired_left, kept = 0, 0
for _, l in ipairs(st.locks) do
  for _, p in ipairs(l.passcodes or {}) do
    if p.type ~= 2 and p.end_ms < now - 86400 * 1000 then expired_left = expired_left + 1 else kept = kept + 1 end
  end
end
check(expired_left == 0, 'no code that ended more than a day ago is left')
check(kept > 0 and K.passcode_by_code(K.lock(st, lock_of['Room 201']), code) ~= nil,
  'valid, in-grace and permanent codes stay (the new guest\'s code too)')

step('Room 201: the guest leaves early (check-out object +7 <- true)')
run_event('checkout_event.lua', '32/1/39', true)
d = dump()
show_objects(d, { '32/1/33', '32/1/40', '32/1/41' })
st = show_sim('after the check-out')
check(K.passcode_by_code(K.lock(st, lock_of['Room 201']), code) == nil
  and K.passcode_by_code(K.lock(st, lock_of['Main door']), code) == nil, 'the code is gone from both doors now')
check(d.values['32/1/40'] == 0 and d.values['32/1/33'] ~= code, '+8 is 0 and +1 holds a fresh code for the next guest')

step('A failure: the main door\'s gateway is offline when room 102 checks in')
T.admin('POST', '/gateways/' .. tostring(K.lock(T.get_state(), lock_of['Main door']).gateway_ids[1]), { online = false })
run_event('passcode_event.lua', '32/1/16', false)
local code102 = dump().values['32/1/17']
local f_d, f_t = K.date_time(K.at(1, 15))
local t_d, t_t = K.date_time(K.at(2, 11))
K.writefile(set_dates, string.format([[
grp.update('32/1/19', %s)
grp.update('32/1/20', %s)
grp.update('32/1/21', %s)
grp.update('32/1/22', %s)
]], K.literal(f_d), K.literal(f_t), K.literal(t_d), K.literal(t_t)))
check((lm_run{ site = dir, script = set_dates }) == 0, 'dates set for room 102')
run_event('passcode_event.lua', '32/1/16', true)
d = dump()
show_objects(d, { '32/1/25' })
st = T.get_state()
check(tostring(d.values['32/1/25']):find('^Check%-in failed') ~= nil
  and tostring(d.values['32/1/25']):find('offline', 1, true) ~= nil,
  '+9 says the check-in failed, why, and what to do')
check(K.passcode_by_code(K.lock(st, lock_of['Room 102']), code102) == nil, 'room 102 does not keep a half check-in (rolled back)')
T.admin('POST', '/gateways/' .. tostring(K.lock(st, lock_of['Main door']).gateway_ids[1]), { online = true })

step('A failure: Remote unlock is switched off for the main door in the TTLock app')
T.admin('POST', '/locks/' .. lock_of['Main door'], { remote_unlock = false })
run_event('unlock_event.lua', '32/2/0', true)
check(K.alert_text(dir):find('Remote unlock', 1, true) ~= nil, 'the alert says to turn on Remote unlock in the TTLock app')

print(string.format('\n%s: %d step(s), %d failed check(s)', failures == 0 and 'demo done' or 'demo FAILED', step_no, failures))
os.exit(failures == 0 and 0 or 1)
