-- The native module in a real Lua host (lua5.1 / luajit) against the simulator:
-- loading, configure errors, the nil, err convention, token functions, bad input that must not
-- crash, and 8 processes sharing one refresh.
local T = require('testlib')
local ttlock = require('ttlock')

local E = T.env
local AT = 'a0a0a0a0b1b1b1b1c2c2c2c2d3d3d3d3'
local RT = 'e4e4e4e4f5f5f5f5a6a6a6a6b7b7b7b7'
local DAY_MS = 86400 * 1000

local function now_ms() return os.time() * 1000 end

local raises = T.raises

local STATE_DIR = T.tmpdir()

-- Options for the simulator; `store` is a Lua token store table, lines go to `lines`.
local function opts(extra, store, lines)
  local o = {
    client_id = 'cid-test', client_secret = 'csecret-test',
    api_base = E.base_url, ca_file = E.ca_file, state_dir = STATE_DIR,
    retry_backoff_ms = 10, timeout_s = 10,
  }
  if store then
    o.token_store = { load = function() return store.tokens end,
                      save = function(t) store.tokens = t; store.saves = (store.saves or 0) + 1 end }
  end
  if lines then o.log = function(l) lines[#lines + 1] = l end end
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- The simulator's fixture tokens (valid until a refresh rotates them away).
local function fixture_store(expires_at_ms)
  return { tokens = { access_token = AT, refresh_token = RT,
                      expires_at_ms = expires_at_ms or (now_ms() + 80 * DAY_MS) } }
end

-- A store holding a fresh token pair from a password grant.
local function fresh_store(expires_at_ms)
  local s = {}
  ttlock.configure(opts(nil, s))
  T.eq(ttlock.login{ username = 'hotel@example.com', password = 'secret-pass' }, true)
  if expires_at_ms then s.tokens.expires_at_ms = expires_at_ms end
  s.saves = 0
  return s
end

T.case('module identity', function()
  T.eq(ttlock._NAME, 'ttlock')
  T.ok(type(ttlock._VERSION) == 'string' and ttlock._VERSION:match('^%d+%.%d+%.%d+'), ttlock._VERSION)
  for _, f in ipairs{ 'configure', 'login', 'refresh_token', 'ensure_token', 'token_info', 'stats' } do
    T.eq(type(ttlock[f]), 'function', f)
  end
end)

T.case('every function the module exports is documented in docs/lua-api.md', function()
  local doc = T.read_file(E.repo .. '/docs/lua-api.md')
  local names = {}
  for k, v in pairs(ttlock) do
    if type(v) == 'function' then names[#names + 1] = k end
  end
  table.sort(names)
  T.ok(#names >= 30, 'the module exports its functions: ' .. #names)
  for _, k in ipairs(names) do
    T.ok(doc:find('ttlock.' .. k .. '(', 1, true) or doc:find('ttlock.' .. k .. '{', 1, true)
      or doc:find('`' .. k .. '`', 1, true), 'docs/lua-api.md documents ttlock.' .. k)
  end
end)

T.case('require and configure stay cheap; calls before configure raise', function()
  -- A fresh interpreter: this file's other cases configure the module, so run it apart.
  local dir = T.tmpdir()
  T.write_file(dir .. '/nc.lua', string.format([[
    local function threads()
      local f = io.open('/proc/self/status')
      local n = f:read('*a'):match('Threads:%%s*(%%d+)')
      f:close()
      return tonumber(n)
    end
    local before = threads()
    local ttlock = require('ttlock')
    local ok, e = pcall(ttlock.token_info)
    io.write(tostring(ok), ' ', tostring(e), '\n')
    ttlock.configure{ client_id = 'cid-test', client_secret = 'csecret-test', api_base = %q,
                      ca_file = %q, state_dir = %q }
    -- No thread and no file before the first call that needs them.
    io.write('threads ', threads() - before, ' dir ', tostring(io.open(%q) ~= nil), '\n')
    ttlock.login{ username = 'hotel@example.com', password = 'secret-pass' }
    io.write('after call: threads ', tostring(threads() > before), ' dir ', tostring(io.open(%q) ~= nil), '\n')
  ]], E.base_url, E.ca_file, dir .. '/state', dir .. '/state/token.lock', dir .. '/state/tokens.json'))
  local code, out = T.run('LUA_CPATH=' .. T.q(package.cpath) .. ' ' .. T.lua_cmd(dir .. '/nc.lua'))
  T.eq(code, 0, out)
  T.ok(out:find('^false ttlock: not configured'), out)
  T.ok(out:find('\nthreads 0 dir false\n', 1, true), out)
  T.ok(out:find('after call: threads true dir true', 1, true), out)
end)

T.case('configure errors raise and keep the previous configuration', function()
  local store = fixture_store()
  T.eq(ttlock.configure(opts(nil, store)), true)
  local bad = {
    { 'not a table' },
    { { client_id = 'x' } },
    { { client_secret = 'y' } },
    { { client_id = '', client_secret = 'y' } },
    { { client_id = 'x', client_secret = 'y', color = 'red' }, "unknown option 'color'" },
    { { client_id = 'x', client_secret = 'y', timeout_s = '30' }, 'timeout_s must be a number' },
    { { client_id = 'x', client_secret = 'y', timeout_s = 0 } },
    { { client_id = 'x', client_secret = 'y', connect_timeout_s = -1 } },
    { { client_id = 'x', client_secret = 'y', retries = 1.5 } },
    { { client_id = 'x', client_secret = 'y', retries = 11 } },
    { { client_id = 'x', client_secret = 'y', api_base = 'euapi.ttlock.com' }, 'api_base' },
    { { client_id = 'x', client_secret = 'y', ca_file = '/nonexistent/ca.pem' }, 'ca_file' },
    { { client_id = 'x', client_secret = 'y', username = 'u' }, 'password_md5' },
    { { client_id = 'x', client_secret = 'y', username = 'u', password_md5 = 'abc' }, 'password_md5' },
    { { client_id = 'x', client_secret = 'y', log = 'print' }, 'log must be a function' },
    { { client_id = 'x', client_secret = 'y', token_store = { load = function() end } }, 'token_store.save' },
    { { client_id = 'x', client_secret = 'y', state_dir = 5 } },
    { { client_id = 'x', client_secret = 'y', 'positional' } },
  }
  for i, b in ipairs(bad) do
    local e = raises(ttlock.configure, b[1])
    if b[2] then T.ok(e:find(b[2], 1, true), 'case ' .. i .. ': ' .. e) end
  end
  -- Still configured with the store above.
  T.eq(ttlock.token_info().has_access_token, true)
  T.eq(ttlock.token_info().expires_at_ms, store.tokens.expires_at_ms)
end)

T.case('token functions', function()
  local store, lines = fresh_store(now_ms() + DAY_MS), {}
  local at0, rt0 = store.tokens.access_token, store.tokens.refresh_token
  ttlock.configure(opts(nil, store, lines))
  T.reset_counters()
  local info = ttlock.token_info()
  T.eq(info, { has_access_token = true, has_refresh_token = true,
               expires_at_ms = store.tokens.expires_at_ms, needs_login = false })
  -- ensure_token refreshes early (one day left, a week wanted) and saves at once.
  T.eq(ttlock.ensure_token{ min_valid_s = 7 * 86400 }, true)
  T.eq(store.saves, 1)
  T.ok(store.tokens.access_token ~= at0 and store.tokens.refresh_token ~= rt0, 'rotated')
  T.ok(store.tokens.expires_at_ms > now_ms() + 80 * DAY_MS)
  -- Enough validity now: no request.
  T.eq(ttlock.ensure_token{ min_valid_s = 7 * 86400 }, true)
  T.eq(ttlock.ensure_token(), true)
  T.eq(T.counters().token_refreshes, 1)
  -- An explicit refresh keeps the rotated refresh token working.
  T.eq(ttlock.refresh_token(), true)
  T.eq(ttlock.refresh_token(), true)
  T.eq(T.counters().token_refreshes, 3)
  T.eq(store.saves, 3)
  -- login with the plain password (md5 computed) and with the md5.
  T.eq(ttlock.login{ username = 'hotel@example.com', password = 'secret-pass' }, true)
  T.eq(ttlock.login{ username = 'hotel@example.com', password_md5 = '591FAC3E56FFBDC6F310C1B646050C09' }, true)
  T.eq(T.counters().token_grants, 2)
  raises(ttlock.login, { username = 'u' })
  raises(ttlock.login, { username = 'u', password = 'p', password_md5 = 'x' })
  raises(ttlock.login, { username = 'u', password = 'p', remember = true })
  raises(ttlock.ensure_token, { min_valid_s = -1 })
  -- stats: token calls are not /v3 API calls.
  local s = ttlock.stats()
  T.ok(s.month:match('^%d%d%d%d%-%d%d$'), s.month)
  T.eq(s.api_calls, 0)
  T.ok(#lines > 0, 'log lines')
  for _, l in ipairs(lines) do
    T.ok(l:sub(1, 7) == 'ttlock:', l)
    for _, secret in ipairs{ 'csecret-test', 'secret-pass', '591fac3e56ffbdc6f310c1b646050c09', AT, RT,
                             at0, rt0, store.tokens.access_token, store.tokens.refresh_token } do
      T.ok(not l:find(secret, 1, true), 'secret in log line: ' .. l)
    end
  end
end)

T.case('nil, err shapes', function()
  local store = fixture_store()
  ttlock.configure(opts(nil, store))
  T.clear_faults()
  -- Wrong password: auth_failed with TTLock's errcode and advice.
  local ok, err = ttlock.login{ username = 'hotel@example.com', password = 'wrong' }
  T.err_code(ok, err, 'auth_failed')
  T.eq(err.errcode, 10007)
  T.eq(err.http_status, nil)
  T.eq(tostring(err), err.message)
  T.ok(err.message:find('TTLock app', 1, true), err.message)
  T.eq(ttlock.token_info().needs_login, true)
  -- Unreadable answer.
  T.fault{ path = '/oauth2/token', kind = 'invalid_json', count = 1 }
  local ok2, err2 = ttlock.refresh_token()
  T.err_code(ok2, err2, 'bad_response')
  T.eq(err2.http_status, 200)
  T.ok(getmetatable(err) == getmetatable(err2), 'one shared metatable')
  -- HTTP 503 (a refresh is not repeated: it may have rotated the token).
  T.fault{ path = '/oauth2/token', kind = 'http_status', status = 503, count = 1 }
  local _, err3 = ttlock.refresh_token()
  T.err_code(err3, 'http_status')
  T.eq(err3.http_status, 503)
  T.eq(type(err3.http_status), 'number')
  -- A rejected refresh token without credentials.
  store.tokens.refresh_token = 'ffffffffffffffffffffffffffffffff'
  local _, err4 = ttlock.refresh_token()
  T.err_code(err4, 'auth_failed')
  T.eq(err4.errcode, 10011)
  -- Timeout.
  ttlock.configure(opts({ timeout_s = 1 }, fixture_store()))
  T.fault{ path = '/oauth2/token', kind = 'delay', delay_ms = 4000, count = 1 }
  local t0 = os.time()
  local _, err5 = ttlock.refresh_token()
  T.err_code(err5, 'timeout')
  T.ok(os.time() - t0 <= 3, 'bounded by timeout_s')
  -- TLS without the simulator's CA.
  local o = opts(nil, fixture_store()); o.ca_file = nil
  ttlock.configure(o)
  local _, err6 = ttlock.refresh_token()
  T.err_code(err6, 'tls')
  -- Connection refused.
  local o2 = opts({ api_base = 'https://127.0.0.1:9', retries = 0 }, fixture_store())
  ttlock.configure(o2)
  local _, err7 = ttlock.refresh_token()
  T.err_code(err7, 'network')
  T.clear_faults()
end)

T.case('bad input never crashes the host', function()
  ttlock.configure(opts(nil, fixture_store()))
  local weird = {
    1 / 0, -1 / 0, 0 / 0, -0, 2 ^ 63, 2 ^ 53 + 1, 1e308, -1e308, 1.5, '',
    string.rep('x', 1000000), 'a\0b', '\255\254', {}, { 1, 2, 3 }, print,
    coroutine.create(function() end), io.stdout, true, false,
    setmetatable({}, { __index = function() error('boom') end }),
  }
  local keys = { 'client_id', 'client_secret', 'api_base', 'username', 'password_md5', 'state_dir',
                 'timeout_s', 'connect_timeout_s', 'retries', 'retry_backoff_ms', 'ca_file', 'log',
                 'token_store' }
  local raised, returned = 0, 0
  for _, k in ipairs(keys) do
    for _, v in ipairs(weird) do
      local o = opts(nil, fixture_store())
      o[k] = v
      local ok, e = pcall(ttlock.configure, o)
      if ok then returned = returned + 1
      else
        raised = raised + 1
        T.ok(type(e) == 'string' and e:sub(1, 7) == 'ttlock:', k .. ': ' .. tostring(e))
      end
    end
  end
  T.ok(raised > 200, 'most weird settings are refused: ' .. raised)
  for _, v in ipairs(weird) do
    for _, f in ipairs{ 'login', 'ensure_token', 'token_info', 'stats', 'refresh_token' } do
      local ok, e = pcall(ttlock[f], v)
      T.ok(ok or (type(e) == 'string' and e:sub(1, 7) == 'ttlock:'), f .. ': ' .. tostring(e))
    end
    local ok, e = pcall(ttlock.ensure_token, { min_valid_s = v })
    T.ok(ok or e:sub(1, 7) == 'ttlock:', tostring(e))
    ok, e = pcall(ttlock.login, { username = v, password = v })
    T.ok(ok or e:sub(1, 7) == 'ttlock:', tostring(e))
  end
  -- A token store whose callbacks misbehave: raised as ttlock: errors, not crashes.
  local good = fresh_store()
  local cases = {
    { load = function() error('store down') end, save = function() end },
    { load = function() return 'tokens' end, save = function() end },
    { load = function() return { access_token = 5 } end, save = function() end },
    { load = function() return { access_token = AT, expires_at_ms = 0.5 } end, save = function() end },
    { load = function() return { refresh_token = good.tokens.refresh_token, expires_at_ms = 1 } end,
      save = function() error('disk full') end },
  }
  for i, st in ipairs(cases) do
    local o = opts()
    o.token_store = st
    ttlock.configure(o)
    local e = raises(ttlock.ensure_token)
    T.ok(e:find('token_store', 1, true), i .. ': ' .. e)
    T.ok(not e:find('traceback', 1, true), 'one line: ' .. e)
  end
  -- A failing log callback is ignored.
  local st = fresh_store(now_ms() + DAY_MS)
  ttlock.configure(opts({ log = function() error('log broken') end }, st))
  T.eq(ttlock.ensure_token(), true)
  T.eq(st.saves, 1)
end)

T.case('8 processes share one refresh', function()
  local dir = T.tmpdir()
  local state_dir = dir .. '/state'
  T.mkdir(state_dir)
  -- The file store's format, with one day of validity left by the record.
  local st = fresh_store()
  T.write_file(state_dir .. '/tokens.json', string.format(
    '{"access_token":"%s","refresh_token":"%s","expires_at_ms":%.0f}',
    st.tokens.access_token, st.tokens.refresh_token, now_ms() + DAY_MS))
  T.write_file(dir .. '/child.lua', string.format([[
    local ttlock = require('ttlock')
    ttlock.configure{ client_id = 'cid-test', client_secret = 'csecret-test', api_base = %q,
                      ca_file = %q, state_dir = %q, retry_backoff_ms = 10 }
    local me = arg[1]
    io.open(%q .. '/ready-' .. me, 'w'):close()
    local deadline = os.time() + 60
    while not io.open(%q .. '/go') do
      if os.time() > deadline then io.write('no go'); os.exit(2) end
    end
    local ok, err = ttlock.ensure_token{ min_valid_s = 7 * 86400 }
    io.write('RESULT ', tostring(ok), ' ', tostring(err))
  ]], E.base_url, E.ca_file, state_dir, dir, dir))
  T.reset_counters()
  local cmd = ''
  for i = 1, 8 do
    cmd = cmd .. 'LUA_CPATH=' .. T.q(package.cpath) .. ' ' .. T.lua_cmd(dir .. '/child.lua', tostring(i))
      .. ' > ' .. T.q(dir .. '/out-' .. i) .. ' 2>&1 & '
  end
  local p = io.popen(cmd .. 'wait; echo done', 'r')
  local deadline = os.time() + 60
  local function all_ready()
    for i = 1, 8 do
      local f = io.open(dir .. '/ready-' .. i)
      if not f then return false end
      f:close()
    end
    return true
  end
  while not all_ready() do T.ok(os.time() < deadline, 'children did not start') end
  T.write_file(dir .. '/go', '')
  T.eq(p:read('*a'), 'done\n')
  p:close()
  for i = 1, 8 do
    T.eq(T.read_file(dir .. '/out-' .. i), 'RESULT true nil', 'child ' .. i)
  end
  local c = T.counters()
  T.eq(c.token_refreshes, 1)
  T.eq(c.token_grants, 0)
end)

T.done()
