-- The site builder next to the LM emulator, shared by the LM script tests (tests/lua/test_scripts.lua,
-- tests/lua/test_concurrency.lua), the demo and the benchmark: build an emulated LM site (room
-- blocks, unlock objects, the forum's token objects, a ttlock_config), run LM scripts in child
-- processes, and read back what they left (object values, storage, logs). Everything is read
-- through the LM API inside the emulator (a dump script), not through the emulator's file layout.
local K = {}

K.dt = { bool = 1, date = 11, time = 10, uint32 = 12, string = 16, text = 255 }

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
K.sh_quote = sh_quote

-- A Lua literal for v (strings, numbers, booleans, nested tables with such keys).
local function literal(v)
  local t = type(v)
  if t == 'string' then return string.format('%q', v) end
  if t == 'number' then
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format('%.0f', v) end
    return string.format('%.17g', v)
  end
  if t == 'boolean' or t == 'nil' then return tostring(v) end
  if t == 'table' then
    local parts = {}
    local n = #v
    for i = 1, n do parts[#parts + 1] = literal(v[i]) end
    local keys = {}
    for k in pairs(v) do
      if not (type(k) == 'number' and k >= 1 and k <= n and k == math.floor(k)) then keys[#keys + 1] = k end
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
      parts[#parts + 1] = '[' .. literal(k) .. '] = ' .. literal(v[k])
    end
    return '{ ' .. table.concat(parts, ', ') .. ' }'
  end
  error('sitekit: cannot write a ' .. t)
end
K.literal = literal

local function readfile(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read('*a')
  f:close()
  return s
end
K.readfile = readfile

local function writefile(path, data)
  local f = assert(io.open(path, 'wb'))
  f:write(data)
  f:close()
end
K.writefile = writefile

function K.mkdir(path)
  local ok = os.execute('mkdir -p ' .. sh_quote(path))
  assert(ok == 0 or ok == true, 'mkdir failed: ' .. path)
end

-- The emulator CLI in a child process (the demo's runner; tests use T.lm_run).
-- o = { interp=, repo=, site=, script=, event=, value= } -> exit code, output
function K.lm_run(o)
  local cmd = o.interp .. ' ' .. sh_quote(o.repo .. '/tests/lm/run.lua') .. ' --site ' .. sh_quote(o.site)
    .. ' --script ' .. sh_quote(o.script)
  if o.event then
    cmd = cmd .. ' --event ' .. sh_quote(o.event) .. ' --value ' .. sh_quote(literal(o.value))
  end
  local p = assert(io.popen(cmd .. ' 2>&1; echo "__exit=$?"'))
  local out = p:read('*a')
  p:close()
  local code = tonumber(out:match('__exit=(%d+)%s*$'))
  out = out:gsub('__exit=%d+%s*$', '')
  return code, out
end

---------------------------------------------------------------------------------------------------
-- Site contents

local function ga_parts(ga)
  local a, b, c = ga:match('^(%d+)/(%d+)/(%d+)$')
  return tonumber(a), tonumber(b), tonumber(c)
end

local function ga_add(ga, n)
  local a, b, c = ga_parts(ga)
  local raw = a * 2048 + b * 256 + c + n
  return string.format('%d/%d/%d', math.floor(raw / 2048), math.floor(raw / 256) % 8, raw % 256)
end
K.ga_add = ga_add

-- LM date and time values for an epoch time (local time, as the visualisation shows it).
function K.date_time(t)
  local d = os.date('*t', t)
  return { day = d.day, month = d.month, year = d.year },
         { day = d.wday == 1 and 7 or d.wday - 1, hour = d.hour, minute = d.min, second = d.sec }
end

-- Epoch time of day `days` from today at hh:mm local time.
function K.at(days, hour, minute)
  local d = os.date('*t', os.time() + days * 86400)
  return os.time({ year = d.year, month = d.month, day = d.day, hour = hour, min = minute or 0, sec = 0 })
end

-- Milliseconds as the scripts compute them (os.time of the LM date and time).
function K.ms(date, time)
  return os.time({ year = date.year, month = date.month, day = date.day, hour = time.hour,
                   min = time.minute, sec = time.second or 0 }) * 1000
end

function K.ddmm(date)
  return string.format('%02d%02d', date.day, date.month)
end

-- A forum-style room block from base `ga` (+0..+9, +7 unused). The +1..+9 objects are
-- visualisation objects; +9 is a 250-byte text (a virtual address keeps it off the TP bus).
function K.room_block(ga, lock_id, room, o)
  o = o or {}
  local from_d, from_t = K.date_time(o.from or K.at(1, 14))
  local to_d, to_t = K.date_time(o.to or K.at(4, 11))
  local label = 'Room ' .. room
  local block = {
    { address = ga, name = label .. ' check-in', datatype = K.dt.bool, value = false,
      comment = 'LockId:' .. tostring(lock_id), tags = { 'PassCode', 'Room_' .. room } },
    { address = ga_add(ga, 1), name = label .. ' passcode', datatype = o.code_datatype or K.dt.string,
      value = o.code or '' },
    { address = ga_add(ga, 2), name = label .. ' passcode name', datatype = K.dt.string, value = '' },
    { address = ga_add(ga, 3), name = label .. ' arrival date', datatype = K.dt.date, value = from_d },
    { address = ga_add(ga, 4), name = label .. ' arrival time', datatype = K.dt.time, value = from_t },
    { address = ga_add(ga, 5), name = label .. ' departure date', datatype = K.dt.date, value = to_d },
    { address = ga_add(ga, 6), name = label .. ' departure time', datatype = K.dt.time, value = to_t },
    { address = ga_add(ga, 8), name = label .. ' passcode id', datatype = K.dt.uint32, value = 0 },
    { address = ga_add(ga, 9), name = label .. ' status', datatype = K.dt.text, value = '' },
  }
  if o.checkout then
    -- +7, the optional check-out object: its own tag, no LockId (the room comes from the block).
    table.insert(block, 8, { address = ga_add(ga, 7), name = label .. ' check-out', datatype = K.dt.bool,
                             value = false, tags = { 'CheckOut' } })
  end
  return block
end

function K.unlock_object(ga, lock_id, name)
  return { address = ga, name = name, datatype = K.dt.bool, value = false,
           comment = 'LockId:' .. tostring(lock_id), tags = { 'UnlockDoor' } }
end

-- The two objects the forum scripts kept the tokens in.
function K.legacy_token_objects(ga, access_token, refresh_token)
  return {
    { address = ga, name = 'TTLock Access Token', datatype = K.dt.text, value = access_token or '' },
    { address = ga_add(ga, 1), name = 'TTLock Refresh Token', datatype = K.dt.text, value = refresh_token or '' },
  }
end

-- The event scripts of this repository as an LM site attaches them: passcode_event.lua on the tag
-- PassCode, unlock_event.lua on UnlockDoor (for make_site's event_scripts).
function K.event_scripts(repo)
  return {
    { tag = 'PassCode', script = repo .. '/lua/scripts/passcode_event.lua' },
    { tag = 'UnlockDoor', script = repo .. '/lua/scripts/unlock_event.lua' },
    { tag = 'CheckOut', script = repo .. '/lua/scripts/checkout_event.lua' },
  }
end

-- Creates the site (objects through the emulator's --create-site) and its user/ttlock_config.lua.
-- o.event_scripts (optional): the site's event scripts (see K.event_scripts); a script's write
-- to one of their objects is then recorded in the site's events.txt.
function K.make_site(o)
  K.mkdir(o.dir .. '/user')
  local objfile = o.dir .. '/objects-spec.lua'
  local spec = {}
  for i, x in ipairs(o.objects) do spec[i] = x end
  spec.event_scripts = o.event_scripts
  writefile(objfile, 'return ' .. literal(spec) .. '\n')
  local cmd = o.interp .. ' ' .. sh_quote(o.repo .. '/tests/lm/run.lua') .. ' --site ' .. sh_quote(o.dir)
    .. ' --create-site ' .. sh_quote(objfile) .. ' 2>&1'
  local p = assert(io.popen(cmd .. '; echo "__exit=$?"'))
  local out = p:read('*a')
  p:close()
  assert(out:match('__exit=0%s*$'), 'creating the site failed: ' .. out)
  K.write_config(o.dir, o.config)
end

function K.write_config(dir, config)
  K.mkdir(dir .. '/user')
  writefile(dir .. '/user/ttlock_config.lua', '-- written by the test\nreturn ' .. literal(config) .. '\n')
end

-- Reads object values and storage keys through the LM API (a scheduled run of a dump script):
-- { values = { [address] = value, ... }, names = { [address] = name }, storage = { [key] = v } }.
function K.dump(run, dir, storage_keys)
  local out = dir .. '/dump-out.lua'
  local script = dir .. '/dump-script.lua'
  os.remove(out)
  writefile(script, [[
local function literal(v)
  local t = type(v)
  if t == 'string' then return string.format('%q', v) end
  if t == 'number' then return string.format('%.17g', v) end
  if t ~= 'table' then return tostring(v) end
  local parts = {}
  for k, x in pairs(v) do parts[#parts + 1] = '[' .. literal(k) .. '] = ' .. literal(x) end
  return '{ ' .. table.concat(parts, ', ') .. ' }'
end
local res = { values = {}, names = {}, storage = {} }
for _, o in ipairs(grp.all()) do
  res.values[o.address] = o.value
  res.names[o.address] = o.name
end
for _, k in ipairs(]] .. literal(storage_keys or {}) .. [[) do res.storage[k] = storage.get(k) end
local f = assert(io.open(]] .. string.format('%q', out) .. [[, 'wb'))
f:write('return ', literal(res), '\n')
f:close()
]])
  local code, output = run{ site = dir, script = script }
  assert(code == 0, 'dump script failed: ' .. tostring(output))
  local chunk = assert(loadstring(assert(readfile(out)), 'dump'))
  setfenv(chunk, {})
  return chunk()
end

-- A restart of the emulated controller: what LM keeps in RAM is gone, what it keeps on flash
-- stays. RAM here is the site's state_dir (ttlock_config's state_dir; LM's /tmp/ttlock); LM
-- storage, objects, logs and user libraries (the site directory's other files) stay. Only a
-- state_dir inside the site directory is wiped (never a path outside it). Returns the path wiped.
function K.reboot(dir)
  local chunk = assert(loadfile(dir .. '/user/ttlock_config.lua'))
  local cfg = chunk()
  local ram = cfg.state_dir or '/tmp/ttlock'
  assert(ram:sub(1, #dir + 1) == dir .. '/' and not ram:find('/../', 1, true),
    'sitekit.reboot: state_dir ' .. ram .. ' is not inside the site ' .. dir)
  local ok = os.execute('rm -rf ' .. sh_quote(ram))
  assert(ok == 0 or ok == true, 'sitekit.reboot: could not remove ' .. ram)
  return ram
end

-- The text of every log / alert entry of the site, one string.
function K.log_text(dir) return readfile(dir .. '/log.txt') or '' end
function K.alert_text(dir) return readfile(dir .. '/alerts.txt') or '' end

-- Every place a secret must never be: log, alerts, errors and every object value.
-- Returns a list of findings ('<secret name> in <where>').
function K.scan_secrets(dump, dir, secrets)
  local found = {}
  local places = {
    ['log.txt'] = K.log_text(dir), ['alerts.txt'] = K.alert_text(dir),
    ['errors.txt'] = readfile(dir .. '/errors.txt') or '',
  }
  for addr, v in pairs(dump.values) do
    places['object ' .. addr] = type(v) == 'table' and literal(v) or tostring(v)
  end
  for where, text in pairs(places) do
    for name, s in pairs(secrets) do
      if s ~= '' and text:find(s, 1, true) then found[#found + 1] = name .. ' in ' .. where end
    end
  end
  table.sort(found)
  return found
end

-- A lock of a simulator state (the admin API's JSON).
function K.lock(state, id)
  for _, l in ipairs(state.locks or {}) do
    if l.lock_id == id then return l end
  end
  return nil
end

function K.passcode_by_code(lock, code)
  for _, p in ipairs((lock and lock.passcodes) or {}) do
    if tostring(p.keyboard_pwd) == code then return p end
  end
  return nil
end

return K
