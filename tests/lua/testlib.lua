-- Lua test tier library: `local T = require('testlib')`.
--
-- The tier runner (tests/lua_tier.rs) starts a fresh simulator per test file and passes:
--   TTLOCK_SIM_BASE_URL, TTLOCK_SIM_CA_FILE, TTLOCK_SIM_ADMIN_URL  the simulator
--   TTLOCK_CPATH   package.cpath template(s) of the built module (prepended here)
--   TTLOCK_REPO    the repository root
--   TTLOCK_LUA_HOST  the interpreter command line, for child processes (T.lm_run, T.lua_cmd)
-- and puts tests/lua and tests/lm on LUA_PATH. Child processes and the simulator's admin API are
-- reached through /bin/sh (io.popen, os.execute) and curl.

local T = {}

local function getenv(k)
  local v = os.getenv(k)
  if v == '' then return nil end
  return v
end

local function here()
  local src = debug and debug.getinfo and debug.getinfo(1, 'S').source or ''
  return (src:match('^@(.*)/[^/]*$')) or '.'
end

-- The plain-Lua codec next to the emulator, loaded by its path (LUA_PATH need not hold tests/lm):
-- T.json's encoder, and the decoder when lua-cjson is not installed (musl Lua under qemu).
local purejson = dofile(here() .. '/../lm/purejson.lua')
local has_cjson, cjson = pcall(require, 'cjson')
if not has_cjson then cjson = purejson end

T.env = {
  base_url = getenv('TTLOCK_SIM_BASE_URL'),
  ca_file = getenv('TTLOCK_SIM_CA_FILE'),
  admin_url = getenv('TTLOCK_SIM_ADMIN_URL'),
  cpath = getenv('TTLOCK_CPATH'),
  repo = getenv('TTLOCK_REPO') or (here() .. '/../..'),
  interp = getenv('TTLOCK_LUA_HOST') or (arg and arg[-1]) or 'lua5.1',
}

if T.env.cpath then
  package.cpath = T.env.cpath .. ';' .. package.cpath
end

---------------------------------------------------------------------------------------------------
-- Shell helpers

-- Single-quotes a string for /bin/sh.
function T.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Runs a shell command; returns its exit status (a number) and its stdout and stderr together.
function T.run(cmd)
  local p = assert(io.popen('( ' .. cmd .. ' ) 2>&1; echo "__T_EXIT:$?"', 'r'))
  local out = p:read('*a')
  p:close()
  local body, code = out:match('^(.*)__T_EXIT:(%d+)%s*$')
  if not body then return -1, out end
  return tonumber(code), body
end

-- How many times `pattern` (a Lua pattern) occurs in `text`.
function T.count(text, pattern)
  local n = 0
  for _ in text:gmatch(pattern) do n = n + 1 end
  return n
end

function T.read_file(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read('*a')
  f:close()
  return s
end

function T.write_file(path, data)
  local f = assert(io.open(path, 'wb'))
  assert(f:write(data))
  f:close()
end

function T.mkdir(path)
  local code, out = T.run('mkdir -p ' .. T.q(path))
  if code ~= 0 then error('mkdir ' .. path .. ': ' .. out, 2) end
  return path
end

local tmpdirs = {}
-- A fresh directory, removed by T.done() when every case passed (kept for a post-mortem otherwise).
function T.tmpdir()
  local base = getenv('TMPDIR') or '/tmp'
  local code, out = T.run('mktemp -d ' .. T.q(base .. '/ttlock-lua-XXXXXX'))
  local dir = out:match('^%s*(.-)%s*$')
  if code ~= 0 or dir == '' then error('mktemp: ' .. out, 2) end
  tmpdirs[#tmpdirs + 1] = dir
  return dir
end

---------------------------------------------------------------------------------------------------
-- JSON for the admin API. Empty tables encode as [] (the state is mostly lists); wrap a table
-- with T.object(t) to force {}.

T.object = purejson.object

-- Keys sorted, so equal data gives equal strings (see tests/lm/purejson.lua encode_sorted).
function T.json(v)
  return purejson.encode_sorted(v, cjson.null)
end

---------------------------------------------------------------------------------------------------
-- Simulator admin API

-- Returns the decoded JSON answer (or the raw text when it is not JSON) and the HTTP status.
-- Raises only when the admin API cannot be reached.
function T.admin(method, path, body)
  assert(T.env.admin_url, 'TTLOCK_SIM_ADMIN_URL is not set (run through the tier runner)')
  local cmd = 'curl -sS -X ' .. method .. " -w '\\n%{http_code}' "
  local tmp
  if body ~= nil then
    tmp = os.tmpname()
    T.write_file(tmp, type(body) == 'string' and body or T.json(body))
    cmd = cmd .. "-H 'Content-Type: application/json' --data-binary @" .. T.q(tmp) .. ' '
  end
  local code, out = T.run(cmd .. T.q(T.env.admin_url .. path))
  if tmp then os.remove(tmp) end
  local text, status = out:match('^(.*)\n(%d%d%d)%s*$')
  if code ~= 0 or not status then
    error(string.format('admin %s %s failed (curl exit %s): %s', method, path, tostring(code), out), 2)
  end
  status = tonumber(status)
  if text == '' then return nil, status end
  local ok, data = pcall(cjson.decode, text)
  if ok then return data, status end
  return text, status
end

local function admin_ok(method, path, body)
  local data, status = T.admin(method, path, body)
  if status < 200 or status > 299 then
    error(string.format('admin %s %s: HTTP %d: %s', method, path, status,
      type(data) == 'string' and data or T.json(data)), 3)
  end
  return data
end

function T.set_state(state) return admin_ok('PUT', '/state', state) end
function T.get_state() return admin_ok('GET', '/state') end
function T.options(opts) return admin_ok('POST', '/options', T.object(opts)) end
function T.fault(f) return admin_ok('POST', '/fault', T.object(f)) end
function T.clear_faults() return admin_ok('DELETE', '/faults') end
function T.counters() return admin_ok('GET', '/counters') end
function T.reset_counters() return admin_ok('POST', '/counters/reset') end
function T.expire_tokens() return admin_ok('POST', '/tokens/expire') end

-- The simulator's State::fixture() as a Lua table, kept equal to tests/sim by hand (checked by
-- tests/lua/test_testlib.lua). The access token expires token_ttl_s after the simulator's
-- start; here it is computed from now.
-- A fresh simulator state (the fixture, no gateway hold unless given, `edit` applied) with the
-- counters at zero.
function T.fresh(edit, hold_ms)
  local st = T.fixture()
  st.options.gateway_hold_ms = hold_ms or 0
  if edit then edit(st) end
  T.set_state(st)
  T.reset_counters()
  return st
end

-- Requests the simulator counted on `path`, and on every path.
function T.requests(path)
  local c = T.counters()
  return (c.requests and c.requests[path]) or 0
end

function T.total_requests()
  local n = 0
  for _, v in pairs(T.counters().requests or {}) do n = n + v end
  return n
end

function T.fixture()
  local ttl_s = 7776000
  local function lock(id, alias, gw, battery)
    return { lock_id = id, alias = alias, gateway_ids = { gw }, battery = battery, open_state = 0,
             remote_unlock = true, passcodes = {}, records = {}, keypad = {}, unsent_records = {} }
  end
  return {
    app = T.object({ client_id = 'cid-test', client_secret = 'csecret-test' }),
    users = { { username = 'hotel@example.com', password_md5 = '591fac3e56ffbdc6f310c1b646050c09', uid = 1001 } },
    tokens = { { access_token = 'a0a0a0a0b1b1b1b1c2c2c2c2d3d3d3d3',
                 refresh_token = 'e4e4e4e4f5f5f5f5a6a6a6a6b7b7b7b7', username = 'hotel@example.com',
                 access_expires_at_ms = os.time() * 1000 + ttl_s * 1000, refresh_valid = true } },
    gateways = {
      { gateway_id = 1, name = 'GW floor 1', online = true },
      { gateway_id = 2, name = 'GW floor 2', online = true },
    },
    locks = {
      lock(1001, 'Room 101', 1, 87),
      lock(1002, 'Room 102', 2, 64),
      lock(2001, 'Main door', 2, 100),
    },
    options = T.object({ gateway_hold_ms = 300, latency_ms = 0, rotate_refresh_tokens = true,
                         token_ttl_s = ttl_s, clock_offset_ms = 0, numbers_as_strings = false,
                         refresh_revokes_access = false, custom_passcode_limit = 250, keep_alive_s = 60,
                         real_shapes = false, record_upload_delay_ms = 0 }),
  }
end

local function urlencode(v)
  return (tostring(v):gsub('[^%w%-%._~]', function(c) return string.format('%%%02X', c:byte()) end))
end

-- Calls the simulator's TTLock API directly (curl, trusting the simulator's CA), e.g.
-- T.api('POST', '/v3/lock/unlock', { clientId = 'cid-test', accessToken = at, lockId = 1001 }).
-- `date` is added when missing. Returns the decoded JSON (or the raw text) and the HTTP status.
function T.api(method, path, params)
  assert(T.env.base_url and T.env.ca_file, 'TTLOCK_SIM_BASE_URL/TTLOCK_SIM_CA_FILE are not set')
  params = params or {}
  local keys = {}
  for k in pairs(params) do keys[#keys + 1] = k end
  if params.date == nil and path:find('^/v3/') then keys[#keys + 1] = 'date' end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = params[k]
    if k == 'date' and v == nil then v = string.format('%.0f', os.time() * 1000) end
    if type(v) == 'number' then v = string.format('%.0f', v) end
    parts[#parts + 1] = urlencode(k) .. '=' .. urlencode(v)
  end
  local form = table.concat(parts, '&')
  local url = T.env.base_url .. path
  local cmd = "curl -sS -w '\\n%{http_code}' --cacert " .. T.q(T.env.ca_file) .. ' '
  if method == 'GET' then
    cmd = cmd .. T.q(url .. (form ~= '' and ('?' .. form) or ''))
  else
    cmd = cmd .. '-X ' .. method .. ' --data ' .. T.q(form) .. ' ' .. T.q(url)
  end
  local code, out = T.run(cmd)
  local text, status = out:match('^(.*)\n(%d%d%d)%s*$')
  if code ~= 0 or not status then
    error(string.format('api %s %s failed (curl exit %s): %s', method, path, tostring(code), out), 2)
  end
  local ok, data = pcall(cjson.decode, text)
  return ok and data or text, tonumber(status)
end

function T.find_lock(state, id)
  for _, lock in ipairs(state.locks or {}) do
    if tonumber(lock.lock_id) == tonumber(id) then return lock end
  end
  return nil
end

---------------------------------------------------------------------------------------------------
-- Cases and assertions

local passed, failed = 0, 0
local failures = {}

local function show(v, depth)
  depth = depth or 0
  local t = type(v)
  if t == 'string' then return string.format('%q', v) end
  if t ~= 'table' then return tostring(v) end
  if depth > 3 then return '{...}' end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == 'number' or type(a) == 'string') then return a < b end
    return type(a) < type(b)
  end)
  local parts = {}
  for i, k in ipairs(keys) do
    if i > 20 then parts[#parts + 1] = '...'; break end
    parts[#parts + 1] = '[' .. show(k) .. ']=' .. show(v[k], depth + 1)
  end
  return '{' .. table.concat(parts, ', ') .. '}'
end
T.show = show

-- Returns nil when equal, else the path of the first difference and both sides there.
local function diff(a, b, path)
  if a == b then return nil end
  if type(a) ~= 'table' or type(b) ~= 'table' then
    return string.format('at %s: got %s, expected %s', path, show(a), show(b))
  end
  local keys = {}
  for k in pairs(a) do keys[k] = true end
  for k in pairs(b) do keys[k] = true end
  local sorted = {}
  for k in pairs(keys) do sorted[#sorted + 1] = k end
  table.sort(sorted, function(x, y)
    if type(x) == type(y) and (type(x) == 'number' or type(x) == 'string') then return x < y end
    return type(x) < type(y)
  end)
  for _, k in ipairs(sorted) do
    local d = diff(a[k], b[k], path .. '[' .. show(k) .. ']')
    if d then return d end
  end
  return nil
end

-- Deep equality: `a` is the actual value, `b` the expected one.
function T.eq(a, b, msg)
  local d = diff(a, b, 'value')
  if d then error((msg and (msg .. ': ') or '') .. d, 2) end
  return true
end

function T.ok(v, msg)
  if not v then error(msg or 'expected a true value', 2) end
  return v
end

-- Checks a `nil, err` failure: T.err_code(err, 'code') or T.err_code(res, err, 'code').
-- Returns err.
function T.err_code(...)
  local n = select('#', ...)
  local code = select(n, ...)
  local err
  if n >= 3 then
    local res = (...)
    if res ~= nil and res ~= false then
      error('expected a failure (nil, err), got ' .. show(res), 2)
    end
    err = select(n - 1, ...)
  else
    err = (...)
  end
  if type(err) ~= 'table' then error('expected an error table, got ' .. show(err), 2) end
  if err.code ~= code then
    error(string.format('expected error code %q, got %s (%s)', code, show(err.code),
      tostring(err.message)), 2)
  end
  if type(err.message) ~= 'string' then error('error without a message: ' .. show(err), 2) end
  return err
end

-- Checks that f(...) raises a message starting "ttlock:" (misuse); returns the message.
function T.raises(f, ...)
  local ok, e = pcall(f, ...)
  T.ok(not ok, 'expected an error')
  T.ok(type(e) == 'string' and e:sub(1, 7) == 'ttlock:', 'message: ' .. tostring(e))
  return e
end

function T.case(name, fn)
  local ok, err = xpcall(fn, function(e)
    return debug and debug.traceback and debug.traceback(tostring(e), 2) or tostring(e)
  end)
  if ok then
    passed = passed + 1
    print('ok - ' .. name)
  else
    failed = failed + 1
    failures[#failures + 1] = name
    print('FAIL - ' .. name .. '\n' .. tostring(err))
  end
  io.stdout:flush()
  return ok
end

---------------------------------------------------------------------------------------------------
-- Capture hook for the secret scan (tests/secrets.rs). With TTLOCK_CAPTURE_DIR set,
-- everything the module returns or raises in this process (require('ttlock') is wrapped), and at
-- T.done() the log, alert, error and bus files and object values of every site under T.tmpdir(),
-- are written to that directory, with the simulator's secrets (its app secret, user md5s and every
-- token it issued) beside them. Without the variable nothing changes.

local CAPTURE = getenv('TTLOCK_CAPTURE_DIR')
local capture_base, capture_out

local function capture_name(ext)
  if not capture_base then
    local pid = (T.read_file('/proc/self/stat') or ''):match('^(%d+)') or tostring(os.time())
    local file = (arg and arg[0] or 'lua'):match('([^/]*)%.lua$') or 'lua'
    capture_base = CAPTURE .. '/lua-' .. file .. '-' .. pid .. '-' .. os.time()
  end
  return capture_base .. '.' .. ext
end

-- Every string (and number) inside v, tables followed to a depth, __tostring applied.
local function strings_of(v, out, depth, seen)
  local t = type(v)
  if t == 'string' or t == 'number' or t == 'boolean' then
    out[#out + 1] = tostring(v)
  elseif t == 'table' and depth < 8 and not seen[v] then
    seen[v] = true
    for k, x in pairs(v) do
      strings_of(k, out, depth + 1, seen)
      strings_of(x, out, depth + 1, seen)
    end
    local mt = getmetatable(v)
    if type(mt) == 'table' and mt.__tostring then out[#out + 1] = tostring(v) end
  end
  return out
end

local function capture_write(text)
  if not capture_out then
    T.mkdir(CAPTURE)
    capture_out = assert(io.open(capture_name('txt'), 'ab'))
  end
  capture_out:write(text, '\n')
  capture_out:flush()
end

if CAPTURE then
  local wrapped = setmetatable({}, { __mode = 'k' })
  local unpack = unpack or table.unpack
  local function wrap(m)
    if type(m) ~= 'table' or wrapped[m] then return end
    wrapped[m] = true
    local names = {}
    for name, f in pairs(m) do
      if type(f) == 'function' then names[#names + 1] = name end
    end
    for _, name in ipairs(names) do
      local f = m[name]
      local function call(...)
        local r = { n = 0 }
        local function keep(...)
          r.n = select('#', ...)
          for i = 1, r.n do r[i] = (select(i, ...)) end
        end
        keep(pcall(f, ...))
        capture_write('ttlock.' .. name .. ': ' .. table.concat(strings_of(r, {}, 0, {}), ' '))
        if not r[1] then error(r[2], 0) end
        return unpack(r, 2, r.n)
      end
      m[name] = function(...)
        if name == 'configure' and select('#', ...) == 1 and type((...)) == 'table'
            and type((...).log) == 'function' then
          -- The log lines too: a copy of the settings with the callback wrapped.
          local opts, log = {}, (...).log
          for k, v in pairs((...)) do opts[k] = v end
          opts.log = function(line)
            capture_write('log: ' .. tostring(line))
            return log(line)
          end
          return call(opts)
        end
        return call(...)
      end
    end
  end
  local real_require = require
  require = function(name)  -- the module wherever it is loaded from in this process
    local m = real_require(name)
    if name == 'ttlock' then wrap(m) end
    return m
  end
end

-- The sites' files and the simulator's secrets into the capture directory.
local function capture_done()
  if not CAPTURE then return end
  for _, dir in ipairs(tmpdirs) do
    local code, out = T.run('find ' .. T.q(dir) .. ' -type f \\( -name log.txt -o -name alerts.txt'
      .. ' -o -name errors.txt -o -name bus.txt -o -name "obj_*.val" \\) -exec sh -c '
      .. T.q('for f; do echo "== $f"; cat "$f"; echo; done') .. ' sh {} +')
    if code == 0 then capture_write(out) end
  end
  local ok, st = pcall(T.get_state)
  if ok and type(st) == 'table' then
    local lines = {}
    if st.app and st.app.client_secret then lines[#lines + 1] = st.app.client_secret end
    for _, u in ipairs(st.users or {}) do lines[#lines + 1] = u.password_md5 end
    for _, t in ipairs(st.tokens or {}) do
      lines[#lines + 1] = t.access_token
      lines[#lines + 1] = t.refresh_token
    end
    T.write_file(capture_name('secrets'), table.concat(lines, '\n') .. '\n')
  end
  if capture_out then capture_out:close() end
end

function T.done()
  capture_done()
  if failed == 0 then
    for _, dir in ipairs(tmpdirs) do T.run('rm -rf ' .. T.q(dir)) end
  else
    print('failed cases: ' .. table.concat(failures, '; '))
    print('kept temporary directories: ' .. table.concat(tmpdirs, ' '))
  end
  print(string.format('%d passed, %d failed', passed, failed))
  io.stdout:flush()
  os.exit(failed == 0 and 0 or 1)
end

---------------------------------------------------------------------------------------------------
-- LM emulator

local lm
function T.lm()
  if not lm then lm = dofile(T.env.repo .. '/tests/lm/lm.lua') end
  return lm
end

-- A site in a fresh temporary directory; objects as lm.site_create takes them.
function T.site(objects)
  local dir = T.tmpdir()
  T.lm().site_create(dir, objects or {})
  return dir
end

-- The interpreter command line running `file` with `args` (already shell-quoted).
function T.lua_cmd(file, args)
  return T.env.interp .. ' ' .. T.q(file) .. (args and (' ' .. args) or '')
end

-- Runs a script through the emulator CLI in a child process with the same interpreter.
-- opts: site, script, event (alias), value (any Lua value), src, name, env ({NAME = value}).
-- Returns the exit status and the output.
function T.lm_run(opts)
  assert(opts.site and opts.script, 'T.lm_run needs site and script')
  local args = '--site ' .. T.q(opts.site) .. ' --script ' .. T.q(opts.script)
  if opts.event ~= nil then
    args = args .. ' --event ' .. T.q(opts.event) .. ' --value ' .. T.q(T.lm().serialize(opts.value))
  end
  if opts.src then args = args .. ' --src ' .. T.q(opts.src) end
  if opts.name then args = args .. ' --name ' .. T.q(opts.name) end
  local prefix = ''
  for k, v in pairs(opts.env or {}) do prefix = prefix .. k .. '=' .. T.q(v) .. ' ' end
  return T.run(prefix .. T.lua_cmd(T.env.repo .. '/tests/lm/run.lua', args))
end

-- Log, alert and error entries of a site: { { time, script, text }, ... }.
function T.log_entries(site) return T.lm().read_entries(site .. '/log.txt') end
function T.alert_entries(site) return T.lm().read_entries(site .. '/alerts.txt') end
function T.error_entries(site) return T.lm().read_entries(site .. '/errors.txt') end

-- An object's value in a site, read the way a script would see it.
function T.lm_value(site, alias)
  local s = T.lm().open_site(site)
  local raw, def = s:resolve(alias)
  if not def then return nil end
  return s:object(raw, def).value
end

return T
