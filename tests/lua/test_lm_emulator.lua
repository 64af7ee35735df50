-- Self-tests of the LogicMachine emulator (tests/lm): every script runs in a child process through
-- the CLI, as LM runs it.
local T = require('testlib')
local lm = T.lm()
local dt = lm.dt

local function script(dir, name, body)
  local path = dir .. '/' .. name .. '.lua'
  T.write_file(path, body)
  return path
end

-- Runs `body` as a scheduled script in `site`; it must succeed.
local function run_ok(site, body, opts)
  opts = opts or {}
  local path = script(T.tmpdir(), opts.name or 'probe', body)
  local code, out = T.lm_run { site = site, script = path, event = opts.event, value = opts.value, src = opts.src,
                              env = opts.env }
  if code ~= 0 then
    local errs = T.error_entries(site)
    error(string.format('script exited %d: %s %s', code, out, errs[#errs] and errs[#errs].text or ''), 2)
  end
  return out
end

local function room_site()
  return T.site {
    { address = '1/1/0', name = 'Room 101 trigger', datatype = dt.bool, value = false,
      comment = 'LockId:1001', tags = { 'PassCode', 'Room_101' } },
    { address = '1/1/1', name = 'Room 101 code', datatype = dt.string, value = '48213' },
    { address = '1/1/3', name = 'Room 101 from date', datatype = dt.date, value = { day = 24, month = 12, year = 2030 } },
    { address = '1/1/4', name = 'Room 101 from time', datatype = dt.time, value = { day = 0, hour = 15, minute = 30, second = 0 } },
    { address = '1/1/9', name = 'Room 101 status', datatype = dt.text, value = '' },
    { address = '1/2/250', name = 'Carry base', datatype = dt.bool, value = false },
    { address = '1/3/3', name = 'Carry target', datatype = dt.uint8, value = 7 },
    { address = '2/0/0', name = 'Main carry target', datatype = dt.uint8, value = 9 },
    { address = '32/1/1', name = 'TTLock Access Token', datatype = dt.text, value = 'at-1' },
    { address = '3/0/0', name = 'Lobby unlock', datatype = 'bool', value = false,
      comment = 'LockId:2001', tags = 'UnlockDoor, Lobby' },
  }
end

T.case('aliases: raw number, a/b/c and object name give the same object', function()
  local site = room_site()
  run_ok(site, [[
    local raw = 1 * 2048 + 1 * 256 + 1
    local a, b, c = grp.find(raw), grp.find('1/1/1'), grp.find('Room 101 code')
    assert(a and b and c, 'not found')
    assert(a.address == '1/1/1' and b.address == '1/1/1' and c.address == '1/1/1')
    assert(a.id == raw and b.id == raw and c.id == raw, 'id is the raw address')
    assert(a.name == 'Room 101 code' and a.datatype == dt.string and a.value == '48213')
    assert(type(a.updatetime) == 'number' and a.updatetime > 0)
    assert(grp.getvalue(raw) == '48213' and grp.getvalue('Room 101 code') == '48213')
    assert(grp.find('9/9/9') == nil and grp.find('No such object') == nil and grp.find(99999) == nil)
    assert(grp.getvalue('No such object') == nil)
    assert(grp.alias('1/1/1') == 'Room 101 code' and grp.alias('Room 101 code') == '1/1/1')
    assert(grp.alias(raw) == 'Room 101 code')
    assert(buslib.encodega('1/2/3') == 2563 and buslib.decodega(2563) == '1/2/3')
    -- false survives getvalue (a common pcall pitfall on LM)
    assert(grp.getvalue('1/1/0') == false)
  ]])
end)

T.case('offsets on raw addresses carry across middle and main groups', function()
  local site = room_site()
  run_ok(site, [[
    local base = grp.find('1/2/250').id
    local o = grp.find(base + 9)
    assert(o and o.address == '1/3/3' and o.value == 7, 'carry into the middle group')
    local top = buslib.encodega('1/7/255')
    assert(grp.find(top + 1).address == '2/0/0', 'carry into the main group')
    assert(buslib.decodega(buslib.encodega('31/7/255') + 1) == '32/0/0', 'virtual range')
    assert(grp.find(32 * 2048 + 256 + 1).name == 'TTLock Access Token')
    assert(grp.find('32/1/1').value == 'at-1')
  ]])
end)

T.case('tags, tagcache, grp.tag modes and tag editing', function()
  local site = room_site()
  run_ok(site, [[
    local o = grp.find('1/1/0')
    assert(o.tagcache == 'PassCode, Room_101', 'tagcache: ' .. tostring(o.tagcache))
    assert(o.comment == 'LockId:1001')
    local tags = grp.gettags('1/1/0')
    assert(#tags == 2 and tags[1] == 'PassCode' and tags[2] == 'Room_101')
    local list = grp.tag('PassCode')
    assert(#list == 1 and list[1].address == '1/1/0' and list[1].comment == 'LockId:1001')
    assert(#grp.tag({ 'PassCode', 'UnlockDoor' }) == 2, 'any')
    assert(#grp.tag({ 'PassCode', 'UnlockDoor' }, 'all') == 0, 'all')
    assert(#grp.tag({ 'UnlockDoor', 'Lobby' }, 'and') == 1, 'and')
    assert(grp.find('3/0/0').tagcache == 'UnlockDoor, Lobby')
    assert(#grp.tag('Nothing') == 0)
    grp.addtags('1/1/1', 'PassCode')
    assert(#grp.tag('PassCode') == 2)
    grp.removetags('1/1/1', 'PassCode')
    assert(#grp.tag('PassCode') == 1)
    -- bulk method on a tag result
    grp.tag('UnlockDoor'):update(true)
    assert(grp.getvalue('3/0/0') == true)
  ]])
  -- the tag edits persisted for the next process
  run_ok(site, [[ assert(grp.find('1/1/1').tagcache == '' and grp.getvalue('Lobby unlock') == true) ]])
end)

T.case('DPT values: date and time round-trip across processes, strings and numbers are encoded', function()
  local site = room_site()
  run_ok(site, [[
    local d = grp.getvalue('1/1/3')
    assert(d.day == 24 and d.month == 12 and d.year == 2030)
    local t = grp.getvalue('1/1/4')
    assert(t.day == 0 and t.hour == 15 and t.minute == 30 and t.second == 0)
    assert(grp.update('1/1/3', { day = 1, month = 2, year = 2031 }))
    assert(grp.update('1/1/4', { day = 3, hour = 9, minute = 5, second = 7 }))
    grp.find('1/1/1'):update('012345678901234567')   -- DPT 16 keeps 14 bytes
    grp.update('1/3/3', 41.6)                         -- uint8 rounds
    grp.update('1/1/0', 1)                            -- bool
    assert(grp.update('1/1/3', 'not a date') == nil, 'a bad date is refused')
  ]])
  T.eq(T.lm_value(site, '1/1/3'), { day = 1, month = 2, year = 2031 })
  T.eq(T.lm_value(site, '1/1/4'), { day = 3, hour = 9, minute = 5, second = 7, min = 5, sec = 7 })
  T.eq(T.lm_value(site, '1/1/1'), '01234567890123')
  T.eq(T.lm_value(site, '1/3/3'), 42)
  T.eq(T.lm_value(site, '1/1/0'), true)
  run_ok(site, [[
    local d, t = grp.getvalue('1/1/3'), grp.getvalue('1/1/4')
    assert(d.day == 1 and d.month == 2 and d.year == 2031)
    assert(t.day == 3 and t.hour == 9 and t.minute == 5 and t.second == 7)
    assert(dt.date == 11 and dt.time == 10 and dt.text == 255 and dt.string == 16 and dt.bool == 1)
  ]])
end)

T.case('checkupdate writes only on a change of at least delta', function()
  local site = room_site()
  run_ok(site, [[
    assert(grp.checkupdate('1/3/3', 7) == false, 'same value')
    assert(grp.checkupdate('1/3/3', 7.4) == false, 'below the integer delta')
    assert(grp.checkupdate('1/3/3', 9) == true)
    assert(grp.getvalue('1/3/3') == 9)
    assert(grp.checkupdate('1/1/1', '48213') == false)
    assert(grp.find('1/1/1'):checkupdate('11111') == true)
    assert(grp.getvalue('1/1/1') == '11111')
    assert(grp.checkwrite('1/3/3', 20, 15) == false, 'explicit delta')
  ]])
end)

T.case('grp.create makes objects other processes see; write goes to the bus log', function()
  local site = room_site()
  run_ok(site, [[
    local addr = grp.create { name = 'Made here', datatype = dt.text, virtual = true, tags = { 'X' } }
    assert(addr and addr:match('^32/'), tostring(addr))
    assert(grp.create { address = '5/5/5', name = 'Fixed', datatype = dt.uint16 } == '5/5/5')
    grp.write('Made here', 'hello')
  ]])
  run_ok(site, [[
    assert(grp.getvalue('Made here') == 'hello')
    assert(grp.getvalue('5/5/5') == 0)
    assert(#grp.tag('X') == 1)
  ]])
  local bus = T.read_file(site .. '/bus.txt') or ''
  T.ok(bus:find('write 32/', 1, true) and bus:find('"hello"', 1, true), 'bus log: ' .. bus)
end)

T.case('event fields; the value is written before the script runs', function()
  local site = room_site()
  local out = run_ok(site, [[
    assert(event.dst == '1/1/0', 'dst ' .. tostring(event.dst))
    assert(event.dstraw == 2304, 'dstraw ' .. tostring(event.dstraw))
    assert(event.src == '1.1.7' and event.srcraw == 4096 + 256 + 7, 'src')
    assert(event.type == 'groupwrite')
    assert(event.getvalue() == true)
    assert(grp.getvalue(event.dst) == true, 'object updated first')
    print('event ok')
  ]], { event = '1/1/0', value = true, src = '1.1.7' })
  T.ok(out:find('event ok', 1, true), out)
  run_ok(site, [[
    local v = event.getvalue()
    assert(v.day == 5 and v.month == 6 and v.year == 2032)
  ]], { event = 'Room 101 from date', value = { day = 5, month = 6, year = 2032 } })
  run_ok(site, [[ assert(event.getvalue() == '00042') ]], { event = '1/1/1', value = '00042' })
  run_ok(site, [[ assert(event == nil, 'no event in a scheduled run') ]])
  -- a JSON value on the command line
  local path = script(T.tmpdir(), 'json_value', [[
    local v = event.getvalue()
    assert(v.day == 7 and v.month == 8 and v.year == 2033)
  ]])
  local code, o = T.run(T.lua_cmd(T.env.repo .. '/tests/lm/run.lua', '--site ' .. T.q(site) .. ' --script ' .. T.q(path)
    .. ' --event 1/1/3 --value ' .. T.q('{"day":7,"month":8,"year":2033}')))
  T.eq(code, 0, o)
  -- an event on an object the site does not have is an emulator error (exit 2)
  local code2 = T.lm_run { site = site, script = path, event = '9/9/9', value = true }
  T.eq(code2, 2)
end)

T.case('storage is shared by processes and survives them', function()
  local site = room_site()
  run_ok(site, [[
    assert(storage.get('missing') == nil and storage.get('missing', 'dflt') == 'dflt')
    assert(storage.set('n', 42) and storage.set('s', 'text\n"quoted"') and storage.set('b', false))
    assert(storage.set('t', { a = 1, list = { 'x', 'y' }, nested = { ok = true } }))
  ]])
  run_ok(site, [[
    assert(storage.get('n') == 42 and storage.get('s') == 'text\n"quoted"' and storage.get('b') == false)
    local t = storage.get('t')
    assert(t.a == 1 and t.list[2] == 'y' and t.nested.ok == true)
    storage.delete('n')
    assert(storage.get('n') == nil)
  ]])
end)

T.case('storage under concurrent writers: every read sees a whole value', function()
  local site = room_site()
  local dir = T.tmpdir()
  -- Two writers replace the same key with large values while a third process reads it.
  local writer = script(dir, 'writer', [[
    local tag = os.getenv('WRITER')
    for i = 1, 200 do
      storage.set('shared', { who = tag, i = i, pad = string.rep(tag, 4000) })
      storage.set('own_' .. tag, i)
    end
  ]])
  local reader = script(dir, 'reader', [[
    local seen = 0
    for i = 1, 400 do
      local v = storage.get('shared')
      if v ~= nil then
        assert(type(v) == 'table' and #v.pad == 4000 and v.pad == string.rep(v.who, 4000), 'torn value')
        seen = seen + 1
      end
    end
    print('reads ' .. seen)
  ]])
  local cmd = function(s, who)
    return 'WRITER=' .. who .. ' ' .. T.lua_cmd(T.env.repo .. '/tests/lm/run.lua',
      '--site ' .. T.q(site) .. ' --script ' .. T.q(s))
  end
  local code, out = T.run('(' .. cmd(writer, 'A') .. ') & (' .. cmd(writer, 'B') .. ') & ('
    .. cmd(reader, 'R') .. '); r=$?; wait; exit $r')
  T.eq(code, 0, out)
  T.ok(out:find('reads %d+'), out)
  run_ok(site, [[
    assert(storage.get('own_A') == 200 and storage.get('own_B') == 200)
    local v = storage.get('shared')
    assert(v.i == 200 and (v.who == 'A' or v.who == 'B'))
  ]])
end)

T.case('log, alert and script errors are captured per script', function()
  local site = room_site()
  local dir = T.tmpdir()
  local s = script(dir, 'logger', [[
    log('plain message')
    log('two', { k = 'v', n = 1 })
    alert('Room %s: %d codes', '101', 3)
    alert('no format args 100%')
  ]])
  local code, out = T.lm_run { site = site, script = s }
  T.eq(code, 0, out)
  local logs = T.log_entries(site)
  T.eq(#logs, 2)
  T.eq(logs[1].script, 'logger')
  T.eq(logs[1].text, '* string: plain message')
  T.ok(logs[2].text:find('^%* string: two\n%* table:'), logs[2].text)
  T.ok(logs[2].text:find('["k"]', 1, true) and logs[2].text:find('* string: v', 1, true), logs[2].text)
  local alerts = T.alert_entries(site)
  T.eq(#alerts, 2)
  T.eq(alerts[1].text, 'Room 101: 3 codes')
  T.eq(alerts[2].text, 'no format args 100%')

  local bad = script(dir, 'broken', [[
    log('before')
    local t = nil
    return t.field
  ]])
  local code2 = T.lm_run { site = site, script = bad }
  T.eq(code2, 1, 'a script error gives exit 1')
  local errs = T.error_entries(site)
  T.eq(#errs, 1)
  T.eq(errs[1].script, 'broken')
  T.ok(errs[1].text:find('User script:3:', 1, true) and errs[1].text:find('attempt to index', 1, true)
    and not errs[1].text:find('run.lua', 1, true), errs[1].text)

  local syntax = script(dir, 'syntax', 'if then end')
  T.eq((T.lm_run { site = site, script = syntax }), 1, 'a syntax error gives exit 1')
end)

T.case('helpers: json, sleep, string, io, toboolean, microtime', function()
  local site = room_site()
  local dir = T.tmpdir()
  run_ok(site, string.format([[
    local json = require('json')
    assert(json.encode({ a = 1 }) == '{"a":1}')
    local v = json.decode('{"list":[1,2],"s":"x","big":1700000000000}')
    assert(v.list[2] == 2 and v.s == 'x' and v.big == 1700000000000)
    assert(not pcall(json.decode, '{bad'), 'decode raises')
    assert(json.pdecode('{bad') == nil and json.pdecode('[1]')[1] == 1)
    -- The wall clock from the shell: os.microtime has whole seconds on hosts without LuaSocket.
    local function wall()
      local p = io.popen('date +%%s.%%N')
      local t = tonumber(p:read('*a'))
      p:close()
      return t
    end
    local t1 = wall()
    os.sleep(0.3)
    sleep(0.1)
    local elapsed = wall() - t1
    assert(elapsed >= 0.39, 'os.sleep and sleep really sleep: ' .. elapsed)
    local sec, usec = os.microtime()
    assert(math.abs(sec - os.time()) <= 1 and usec >= 0 and usec < 1e6, 'microtime')
    local parts = string.split('a,b,,c', ',')
    assert(#parts == 4 and parts[3] == '' and parts[4] == 'c')
    assert(string.trim('  x y \n') == 'x y')
    assert(toboolean(true) and toboolean(1) and toboolean('true') and not toboolean(0) and not toboolean('no'))
    local p = %q
    assert(io.writefile(p, 'data') and io.exists(p) and io.readfile(p) == 'data')
    assert(not io.exists(p .. '.missing'))
  ]], dir .. '/file.txt'))
end)

T.case('plain-Lua JSON codec agrees with lua-cjson and stands in for it', function()
  local pj = dofile(T.env.repo .. '/tests/lm/purejson.lua')
  local text = '{"list":[1,2.5,-3e2,true,false,null],"s":"a\\"b\\n\\u00e9\\ud83d\\ude00","o":{},"e":[],"big":1700000000000}'
  local v = pj.decode(text)
  T.eq(v.list[3], -300)
  T.eq(v.list[6], pj.null)
  T.eq(v.s, 'a"b\n\195\169\240\159\152\128')
  T.eq(v.big, 1700000000000)
  T.eq(pj.decode(pj.encode(v)), v)
  for _, bad in ipairs({ '{', '[1,]', '{"a" 1}', '"x', 'nul', '1 2' }) do
    T.ok(not pcall(pj.decode, bad), 'rejects ' .. bad)
  end
  local okc, cjson = pcall(require, 'cjson')
  if okc then
    local c = cjson.decode(text)
    c.list[6] = pj.null
    T.eq(v, c, 'same result as cjson')
  end
  -- The emulator's json falls back to it when cjson cannot load.
  run_ok(room_site(), [[
    package.loaded.cjson = nil
    package.preload.cjson = function() error('no cjson here') end
    local json = require('json')
    assert(json.decode('{"a":[1,2]}').a[2] == 2)
    assert(json.encode({ x = 'y' }) == '{"x":"y"}')
    assert(json.pdecode('{bad') == nil)
  ]])
end)

T.case('require finds user libraries in the site first, then the repository lua/', function()
  local site = room_site()
  -- Whatever this interpreter loads by itself, a script in the emulator must load too.
  local mods = {}
  for _, m in ipairs({ 'socket.http', 'ssl.https', 'ltn12', 'cjson' }) do
    if pcall(require, m) then mods[#mods + 1] = string.format('%q', m) end
  end
  local host_modules = table.concat(mods, ', ')
  T.mkdir(site .. '/user')
  T.write_file(site .. '/user/emu_probe.lua', "return { from = 'site' }")
  run_ok(site, [[
    assert(require('user.emu_probe').from == 'site')
    assert(require('user.ttlock_config').common_doors, 'the repository lua/user/')
    -- The host's C and Lua modules stay reachable (Debian's LuaSocket, LuaSec, cjson).
    for _, m in ipairs({ ]] .. host_modules .. [[ }) do assert(require(m), m) end
  ]])
end)

---------------------------------------------------------------------------------------------------
-- Facts measured on a real LM (its grp, storage, log, alert, bus daemon and script runner)

local function fact_site(extra)
  local objs = {
    { address = '1/1/0', name = 'Trigger', datatype = dt.bool, value = false, comment = 'LockId:1',
      tags = { 'PassCode', 'Room_1' } },
    { address = '1/1/1', name = 'Code', datatype = dt.string, value = '111' },
    { address = '1/1/3', name = 'Never set date', datatype = dt.date },
    { address = '1/1/4', name = 'Never set time', datatype = dt.time },
    { address = '1/1/5', name = 'Some time', datatype = dt.time, value = { day = 2, hour = 7, minute = 8, second = 9 } },
    { address = '1/1/9', name = 'Status', datatype = dt.text, value = 'old' },
    { address = '2/0/0', name = 'Door', datatype = dt.bool, value = false, comment = 'LockId:2', tags = { 'UnlockDoor' } },
    { address = '2/0/1', name = 'By address', datatype = dt.uint8, value = 1 },
    event_scripts = {
      { tag = 'PassCode', script = '/scripts/passcode_event.lua' },
      { tag = 'UnlockDoor', script = '/scripts/unlock_event.lua' },
      { address = '2/0/1', script = '/scripts/by_address.lua', name = 'by address' },
    },
  }
  for _, o in ipairs(extra or {}) do objs[#objs + 1] = o end
  return T.site(objs)
end

T.case('fact 1: a date never set is 0.0.2000; a time has day (weekday), hour, minute, second, min, sec', function()
  local site = fact_site()
  run_ok(site, [[
    local d = grp.getvalue('Never set date')
    assert(d.day == 0 and d.month == 0 and d.year == 2000, 'unset date')
    local t = grp.getvalue('Some time')
    assert(t.day == 2 and t.hour == 7 and t.minute == 8 and t.second == 9, 'time')
    assert(t.min == 8 and t.sec == 9, 'min and sec are aliases')
    local z = grp.getvalue('Never set time')
    assert(z.hour == 0 and z.min == 0 and z.sec == 0)
  ]])
  T.eq(T.lm_value(site, '1/1/3'), { day = 0, month = 0, year = 2000 })
end)

T.case('fact 2: grp.update/grp.write are seen after the delay; a read right after gives the old value', function()
  local site = fact_site()
  run_ok(site, [[
    assert(grp.update('Status', 'new'))
    assert(grp.getvalue('Status') == 'old', 'update: old value right after')
    assert(grp.find('Status').value == 'old')
    assert(grp.write('Code', '222'))
    assert(grp.getvalue('Code') == '111', 'write: old value right after')
    grp.update('Status', 'newer')
    -- Hosts without LuaSocket have a clock of whole seconds (the write lands a second later).
    os.sleep(pcall(require, 'socket') and 0.7 or 2.1)
    assert(grp.getvalue('Status') == 'newer', 'both writes landed, in order')
    assert(grp.getvalue('Code') == '222')
  ]], { env = { LM_GRP_DELAY = '0.5' }, name = 'reader' })
  -- The emulator notes each read of the script's own write before it landed.
  local rb = T.lm().read_entries(site .. '/readback.txt')
  T.eq(#rb, 3)
  T.eq({ rb[1].script, rb[1].text, rb[3].text }, { 'reader', '1/1/9', '1/1/1' })
  -- Delay 0 (the default): at once.
  run_ok(site, [[
    grp.update('Status', 'now')
    assert(grp.getvalue('Status') == 'now')
  ]])
end)

T.case('fact 2: grp.update and grp.write start the event scripts of the object, as LM queues them', function()
  local site = fact_site()
  run_ok(site, [[
    grp.update('Trigger', true)         -- tag PassCode
    grp.write('Door', true)             -- tag UnlockDoor
    grp.update('By address', 5)         -- script on the address
    grp.update('Status', 'x')           -- no event script
    grp.response('Trigger', false)      -- a response is no write
  ]], { name = 'writer' })
  local ev = T.lm().read_events(site)
  T.eq(#ev, 3, 'three event script runs')
  T.eq({ ev[1].name, ev[1].dst, ev[1].tag, ev[1].value, ev[1].sender, ev[1].by },
       { 'passcode_event', '1/1/0', 'PassCode', true, 'ss', 'writer' })
  T.eq({ ev[2].name, ev[2].dst, ev[2].script }, { 'unlock_event', '2/0/0', '/scripts/unlock_event.lua' })
  T.eq({ ev[3].name, ev[3].dst, ev[3].value }, { 'by address', '2/0/1', 5 })
  -- An event script's own writes say 'se'; the telegram that started it starts nothing more.
  run_ok(site, [[ grp.update('Door', false) ]], { event = '1/1/0', value = true })
  ev = T.lm().read_events(site)
  T.eq(#ev, 4)
  T.eq({ ev[4].dst, ev[4].sender }, { '2/0/0', 'se' })
end)

T.case('fact 3: grp.find has data, datahex, decoded, export, pollinterval and empty columns as \'\'; missing: nil, not found', function()
  local site = fact_site()
  run_ok(site, [[
    local o = grp.find('Code')
    assert(o.comment == '' and o.units == '' and o.tagcache == '', 'empty columns are empty strings')
    assert(o.data ~= nil and o.datahex == '313131' .. string.rep('00', 11), 'datahex ' .. o.datahex)
    assert(o.decoded == true and o.export ~= nil and o.pollinterval ~= nil)
    assert(grp.find('Trigger').datahex == '00' and grp.find('Trigger').comment == 'LockId:1')
    local a, b = grp.find('9/9/9')
    assert(a == nil and b == 'not found', 'find')
    a, b = grp.getvalue('No such object')
    assert(a == nil and b == 'not found', 'getvalue')
  ]])
end)

T.case('fact 4: storage keeps 15 digits, nil is the text nil, delete of a missing key is false, a function is nil', function()
  local site = fact_site()
  run_ok(site, [[
    assert(storage.set('big', 2 ^ 53))
    assert(storage.set('t', { ms = 1700000000123, f = function() end, x = 0.1 }))
    assert(storage.set('n', nil))
    storage.set('fn', function() end)
  ]])
  run_ok(site, [[
    assert(storage.get('big') == 9007199254740990, string.format('%.17g', storage.get('big')))
    local t = storage.get('t')
    assert(t.ms == 1700000000123 and t.f == nil and t.x == 0.1)
    local v, err = storage.get('missing')
    assert(v == nil and err == 'key not found or invalid type', tostring(err))
    assert(storage.get('n') == 'nil', 'nil is stored as the text nil')
    assert(storage.get('fn') == nil, 'a stored function is nil')
    assert(storage.delete('missing') == false)
    assert(storage.delete('n') == true and storage.get('n') == nil)
  ]])
end)

T.case('fact 5: log writes * string: for each argument, * bool:, tables unsorted; alert formats only with arguments, 1024 characters', function()
  local site = fact_site()
  run_ok(site, [[
    log('one', true, 3, nil)
    local t = {}
    for i = 1, 30 do t['k' .. i] = i end
    log(t)
    alert('100%')
    alert('%s: %d', 'n', 5)
    alert(string.rep('y', 2000))
  ]], { name = 'logger' })
  local logs = T.log_entries(site)
  T.eq(logs[1].text, '* string: one\n* bool: true\n* number: 3\n* nil')
  local keys = {}
  for k in logs[2].text:gmatch('%["(k%d+)"%]') do keys[#keys + 1] = k end
  T.eq(#keys, 30)
  local sorted = { unpack(keys) }
  table.sort(sorted)
  local same = true
  for i = 1, #keys do same = same and keys[i] == sorted[i] end
  T.ok(not same, 'keys in pairs() order, not sorted')
  local alerts = T.alert_entries(site)
  T.eq(alerts[1].text, '100%')
  T.eq(alerts[2].text, 'n: 5')
  T.eq(#alerts[3].text, 1024)
end)

T.case('fact 6: event has datahex, datalen, dst, dstraw, getvalue, meta, nobuswrite, sender, src, srcraw, tag, type; no value', function()
  local site = fact_site()
  run_ok(site, [[
    local want = { 'datahex', 'datalen', 'dst', 'dstraw', 'getvalue', 'meta', 'nobuswrite', 'sender', 'src',
                   'srcraw', 'tag', 'type' }
    for _, k in ipairs(want) do assert(event[k] ~= nil, 'event.' .. k) end
    local n = 0
    for _ in pairs(event) do n = n + 1 end
    assert(n == #want, 'nothing else: ' .. n)
    assert(event.value == nil, 'no event.value')
    assert(event.dst == '1/1/0' and event.dstraw == 2304 and event.type == 'groupwrite')
    assert(event.getvalue() == true and event.datahex == '01' and event.datalen == 1)
    assert(event.sender == 'vi' and event.src == 'local' and event.srcraw == 0, 'a visualisation write')
  ]], { event = '1/1/0', value = true })
  local path = script(T.tmpdir(), 'se', [[ assert(event.sender == 'se' and event.tag == 'PassCode', event.sender) ]])
  local code, out = T.run(T.lua_cmd(T.env.repo .. '/tests/lm/run.lua', '--site ' .. T.q(site) .. ' --script ' .. T.q(path)
    .. ' --event 1/1/0 --value true --sender se --tag PassCode'))
  T.eq(code, 0, out)
end)

T.case('fact 7: no debug library; os.sleep, sleep, string.split, string.trim, toboolean exist', function()
  run_ok(fact_site(), [[
    assert(debug == nil, 'no debug')
    assert(not pcall(require, 'debug'), 'not by require either')
    assert(type(os.sleep) == 'function' and type(sleep) == 'function')
    assert(type(string.split) == 'function' and type(string.trim) == 'function' and type(toboolean) == 'function')
    assert(('a,b'):split(',')[2] == 'b' and (' x '):trim() == 'x' and toboolean('1'))
  ]])
end)

T.case('fact 8: package.path and cpath are LM\'s; user libraries found as LM finds them', function()
  local site = fact_site()
  T.mkdir(site .. '/user')
  T.write_file(site .. '/user/probe.lua', "return 'site'")
  run_ok(site, [[
    assert(package.path == './?.lua;/usr/lib/lua/?.lua;/usr/share/lua/?.lua;', package.path)
    assert(package.cpath == '/usr/lib/lua/?.so;', package.cpath)
    assert(require('user.probe') == 'site')
    assert(type(require('user.ttlock').passcode_event) == 'function', 'the project library')
    assert(not pcall(require, 'socket'), 'no host module')
  ]], { env = { LM_HOST_PATHS = '0' } })
  -- With the host's paths (the default) LM's come first.
  run_ok(site, [[
    local lm_path, lm_cpath = './?.lua;/usr/lib/lua/?.lua;/usr/share/lua/?.lua;', '/usr/lib/lua/?.so;'
    assert(package.path:sub(1, #lm_path) == lm_path and package.cpath:sub(1, #lm_cpath) == lm_cpath)
  ]])
end)

T.case('fact 9: a script error goes to the Errors tab only, paths rewritten, 1024 characters', function()
  local site = fact_site()
  T.mkdir(site .. '/user')
  T.write_file(site .. '/user/bad.lua', "local M = {}\nfunction M.f()\n  error('lib broke')\nend\nreturn M\n")
  local dir = T.tmpdir()
  local s1 = script(dir, 'main', "log('x')\nlocal lib = require('user.bad')\nlib.f()\n")
  T.eq((T.lm_run { site = site, script = s1 }), 1)
  local errs = T.error_entries(site)
  T.eq(#errs, 1)
  T.ok(errs[1].text:find('^User library bad:3: lib broke'), errs[1].text)
  T.ok(errs[1].text:find('User script:3: in main chunk', 1, true), errs[1].text)
  T.ok(not errs[1].text:find(dir, 1, true) and not errs[1].text:find(site, 1, true), 'no file paths')
  local logs = T.log_entries(site)
  T.eq(#logs, 1, 'the log has the script\'s own entry only')
  T.eq(logs[1].text, '* string: x')
  local s2 = script(dir, 'long', "error(string.rep('z', 3000))\n")
  T.eq((T.lm_run { site = site, script = s2 }), 1)
  errs = T.error_entries(site)
  T.eq(#errs[2].text, 1024)
end)

T.done()
