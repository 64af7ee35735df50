-- Self-tests of tests/lua/testlib.lua: the fixture equals the simulator's, the admin and API
-- helpers reach the simulator, and the assertion helpers fail when they should.
local T = require('testlib')

local AT = 'a0a0a0a0b1b1b1b1c2c2c2c2d3d3d3d3'

T.case('T.fixture() equals the state the runner started the simulator with', function()
  local state = T.get_state()
  local fixture = T.fixture()
  -- The token expiry depends on the start time: compare it apart, within a day.
  local got = state.tokens[1].access_expires_at_ms
  local want = fixture.tokens[1].access_expires_at_ms
  T.ok(math.abs(got - want) < 86400000, 'token expiry ' .. got .. ' vs ' .. want)
  state.tokens[1].access_expires_at_ms = nil
  fixture.tokens[1].access_expires_at_ms = nil
  T.eq(state, fixture, 'simulator state vs T.fixture()')
  T.eq(T.find_lock(state, 2001).alias, 'Main door')
  T.eq(T.find_lock(state, 9999), nil)
end)

T.case('set_state round-trips a state with empty lists and a passcode', function()
  local s = T.fixture()
  local room = T.find_lock(s, 1001)
  room.passcodes = { { keyboard_pwd = '123456', name = 'x', type = 3, start_ms = 1000, end_ms = 2000,
                       is_custom = true, create_ms = 5 } }
  room.open_state = 1
  T.set_state(s)
  local back = T.get_state()
  local p = T.find_lock(back, 1001).passcodes[1]
  T.eq(p.keyboard_pwd, '123456')
  T.ok(p.keyboard_pwd_id > 0, 'the simulator gives the passcode an id')
  T.eq(T.find_lock(back, 1001).open_state, 1)
  T.eq(#T.find_lock(back, 1002).passcodes, 0)
  T.set_state(T.fixture())
end)

T.case('options, faults, counters and token expiry through the admin API', function()
  T.options({ gateway_hold_ms = 0 })
  T.eq(T.get_state().options.gateway_hold_ms, 0)
  T.reset_counters()
  T.fault({ path = '/v3/lock/unlock', kind = 'errcode', errcode = -3003, count = 1 })
  local r, status = T.api('POST', '/v3/lock/unlock', { clientId = 'cid-test', accessToken = AT, lockId = 1001 })
  T.eq(status, 200)
  T.eq(r.errcode, -3003, 'the injected errcode')
  T.eq(T.find_lock(T.get_state(), 1001).open_state, 0, 'nothing done')
  r = T.api('POST', '/v3/lock/unlock', { clientId = 'cid-test', accessToken = AT, lockId = 1001 })
  T.eq(r.errcode, 0, 'the fault was used up')
  T.eq(T.find_lock(T.get_state(), 1001).open_state, 1)
  T.eq(T.counters().requests['/v3/lock/unlock'], 2)
  T.reset_counters()
  T.eq(T.counters().requests['/v3/lock/unlock'], nil)
  T.fault({ path = '*', kind = 'http_status', status = 503, count = 5 })
  T.clear_faults()
  local q = T.api('GET', '/v3/lock/queryOpenState', { clientId = 'cid-test', accessToken = AT, lockId = 1001 })
  T.eq(q.state, 1, 'cleared faults do not fire')
  T.expire_tokens()
  local e = T.api('GET', '/v3/lock/queryOpenState', { clientId = 'cid-test', accessToken = AT, lockId = 1001 })
  T.eq(e.errcode, 10004)
  T.set_state(T.fixture())
end)

T.case('T.eq reports the path of the first difference', function()
  T.eq({ a = { 1, 2 }, b = 'x' }, { a = { 1, 2 }, b = 'x' })
  local ok, err = pcall(T.eq, { a = { 1, 2 } }, { a = { 1, 3 } }, 'ctx')
  T.ok(not ok, 'a difference fails')
  T.ok(err:find('ctx: at value["a"][2]: got 2, expected 3', 1, true), err)
  ok, err = pcall(T.eq, { a = 1 }, { a = 1, b = false })
  T.ok(not ok and err:find('["b"]', 1, true), tostring(err))
  T.ok(not pcall(T.ok, false), 'T.ok fails on false')
  T.ok(not pcall(T.ok, nil), 'T.ok fails on nil')
end)

T.case('T.err_code checks nil, err results', function()
  local err = setmetatable({ code = 'gateway_busy', message = 'busy' }, { __tostring = function(e) return e.message end })
  T.eq(T.err_code(err, 'gateway_busy'), err)
  T.eq(T.err_code(nil, err, 'gateway_busy'), err)
  T.ok(not pcall(T.err_code, err, 'timeout'), 'wrong code fails')
  T.ok(not pcall(T.err_code, true, err, 'gateway_busy'), 'a success fails')
  T.ok(not pcall(T.err_code, nil, 'gateway_busy'), 'no error table fails')
end)

T.case('T.run, T.json, T.tmpdir', function()
  local code, out = T.run('echo hi; exit 3')
  T.eq(code, 3)
  T.eq(out, 'hi\n')
  T.eq(T.json({ list = {}, obj = T.object(), n = 1700000000000, s = 'a"b\n' }),
    '{"list":[],"n":1700000000000,"obj":{},"s":"a\\"b\\n"}')
  local dir = T.tmpdir()
  T.write_file(dir .. '/f', 'x')
  T.eq(T.read_file(dir .. '/f'), 'x')
end)

T.case('a failing case makes the file fail with the summary line', function()
  local dir = T.tmpdir()
  T.write_file(dir .. '/test_inner.lua', [[
    local T = require('testlib')
    T.case('passes', function() T.eq(1, 1) end)
    T.case('fails', function() T.eq({ 1 }, { 2 }) end)
    T.done()
  ]])
  local lua_path = T.env.repo .. '/tests/lua/?.lua;;'
  local code, out = T.run('LUA_PATH=' .. T.q(lua_path) .. ' ' .. T.lua_cmd(dir .. '/test_inner.lua'))
  T.eq(code, 1, out)
  T.ok(out:find('ok - passes', 1, true) and out:find('FAIL - fails', 1, true), out)
  T.ok(out:find('1 passed, 1 failed\n$'), out)
end)

T.done()
