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
  local code, out = T.lm_run { site = site, script = path, event = opts.event, value = opts.value, src = opts.src }
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
  T.eq(T.lm_value(site, '1/1/4'), { day = 3, hour = 9, minute = 5, second = 7 })
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
    local ok, err = storage.set('f', function() end)
    assert(not ok and err, 'functions cannot be stored')
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
  T.ok(logs[2].text:find('* arg: 1', 1, true) and logs[2].text:find('* string: two', 1, true), logs[2].text)
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
  T.ok(errs[1].text:find('broken.lua:3', 1, true) and errs[1].text:find('attempt to index', 1, true)
    and not errs[1].text:find('run.lua', 1, true), errs[1].text)
  local logs2 = T.log_entries(site)
  T.ok(logs2[#logs2].text:find('^Error: '), 'the error is in the log too')

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
    assert(package.cpath:find('/usr/lib/lua/?.so;', 1, true) == 1, 'LM cpath first')
    assert(package.path:find(']] .. site .. [[/?.lua;', 1, true) == 1, 'site first')
    assert(package.path:find(']] .. T.env.repo .. [[/lua/?.lua;', 1, true), 'repo lua/')
    -- The host's C and Lua modules stay reachable (Debian's LuaSocket, LuaSec, cjson).
    for _, m in ipairs({ ]] .. host_modules .. [[ }) do assert(require(m), m) end
  ]])
end)

T.done()
