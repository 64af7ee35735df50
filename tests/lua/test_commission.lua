-- The commissioning script (lua/scripts/commission.lua over M.commission of the user library)
-- through the LM emulator against the simulator: the report of a healthy site, and of one with a
-- wrong client secret, a LockId the account does not administer, an offline gateway and a
-- 14-byte +9; each problem named once; nothing changed on any lock (the simulator's locks and
-- gateways before and after, only read requests); the stored tokens kept when they work; no
-- login tried with a wrong secret; a new site without tokens and credentials; a missing
-- ttlock.so; no secret and no code in the report.
local T = require('testlib')
local S = require('scriptsite')
local K = S.K
local FIX = S.FIX
local NONE = S.NONE

local SCRIPT = 'commission.lua'
-- The requests a report may make: none of them changes a lock.
local READS = { ['/app/getMonthRequestCount'] = true, ['/v3/lock/list'] = true, ['/v3/gateway/list'] = true,
                ['/v3/gateway/listLock'] = true, ['/oauth2/token'] = true }
local GUEST = '48213'

-- How many times `plain` occurs in `text` (no pattern).
local function count(text, plain)
  local n, at = 0, 1
  while true do
    local i, j = text:find(plain, at, true)
    if not i then return n end
    n, at = n + 1, j + 1
  end
end

-- The account as the simulator holds it, without the tokens (a canonical text).
local function locks_text(st)
  return K.literal({ locks = st.locks, gateways = st.gateways })
end

local function only_reads(what)
  for path, n in pairs(T.counters().requests or {}) do
    T.ok(READS[path], what .. ': ' .. n .. ' request(s) to ' .. path .. ', which is not a read')
  end
end

-- Stored tokens in the site's LM storage (a site that works already).
local function seed_tokens(dir)
  local tok = FIX.tokens[1]
  local f = dir .. '/seed-tokens.lua'
  K.writefile(f, string.format('storage.set(%q, { access_token = %q, refresh_token = %q, expires_at_ms = %.0f })\n',
    'ttlock_tokens', tok.access_token, tok.refresh_token, tok.access_expires_at_ms))
  local code, out = S.lm_run{ site = dir, script = f }
  T.eq(code, 0, 'tokens seeded: ' .. out)
end

-- Runs the commissioning script; returns the report's lines (its one log entry).
local function commission(dir)
  S.scheduled(dir, SCRIPT)
  local entries = T.log_entries(dir)
  local text
  for _, e in ipairs(entries) do
    if e.text:find('Commissioning: ', 1, true) then text = e.text end
  end
  T.ok(text, 'a commissioning entry in the log: ' .. K.log_text(dir))
  text = (text or ''):gsub('^%* string: ', '')
  local lines = {}
  for l in (text .. '\n'):gmatch('([^\n]*)\n') do lines[#lines + 1] = l end
  return lines, text
end

local function no_secrets(dir, text)
  for name, v in pairs(S.secrets) do
    T.ok(not text:find(v, 1, true), 'the report shows the ' .. name)
  end
  T.ok(not text:find(GUEST, 1, true), 'the report shows a guest\'s code')
  T.ok(not text:find(FIX.app.client_id, 1, true), 'the report shows the client id')
  T.eq(K.alert_text(dir), '', 'no alert')
end

local function site_objects(extra)
  local objs = S.concat(
    S.room('32/1/0', 1001, '101'),
    S.room('32/1/16', 1002, '102'),
    { K.unlock_object('32/2/0', 2001, 'Main door unlock') })
  return S.concat(objs, extra or {})
end

local function with_guest_code(st)
  table.insert(T.find_lock(st, 1001).passcodes, { keyboard_pwd_id = 0, keyboard_pwd = GUEST, name = '101_stay',
    type = 3, start_ms = os.time() * 1000, end_ms = os.time() * 1000 + 86400000, is_custom = true, create_ms = 0 })
end

T.case('a healthy site: all good, every lock and gateway, tokens kept, only reads', function()
  S.fresh_state(with_guest_code)
  local dir = S.new_site('commission_ok', site_objects())
  seed_tokens(dir)
  local before = locks_text(T.get_state())
  local lines, text = commission(dir)
  T.eq(lines[1], 'TTLock: Commissioning: all good (read only: nothing was changed on any lock)', 'verdict first')
  for _, want in ipairs({
    'client id and secret: right',
    'account: 3 lock(s), 2 gateway(s)',
    '  lock 1001 Room 101: battery 87 %; gateway GW floor 1 online; room 101',
    '  lock 1002 Room 102: battery 64 %; gateway GW floor 2 online; room 102',
    '  lock 2001 Main door: battery 100 %; gateway GW floor 2 online; common door Main door, unlock Main door unlock (32/2/0)',
    '  gateway 2 GW floor 2: online, 2 lock(s)',
    'rooms: 2: 101 (32/1/0, lock 1001), 102 (32/1/16, lock 1002)',
    'common doors: Main door (lock 2001)',
    'tokens: the stored access token works; access token valid until',
    'kept in LM storage (key ttlock_tokens)',
    'app account (username/password_md5): set, not checked (the tokens work)',
    'API calls this month:',
  }) do
    T.ok(text:find(want, 1, true), 'report has "' .. want .. '":\n' .. text)
  end
  T.ok(not text:find('problem', 1, true), 'no problem line')
  T.ok(#lines <= 40, 'one screen: ' .. #lines .. ' lines')
  T.eq(locks_text(T.get_state()), before, 'no lock or gateway changed')
  only_reads('healthy site')
  local c = T.counters()
  T.eq(c.token_grants, 0, 'no login: the tokens work')
  T.eq(c.token_refreshes, 0, 'no refresh')
  T.eq(T.requests('/app/getMonthRequestCount'), 1, 'the secret checked once')
  T.eq(T.requests('/v3/gateway/listLock'), 2, 'one listLock per gateway')
  local stored = S.dump(dir).storage.ttlock_tokens
  T.eq(stored and stored.access_token, FIX.tokens[1].access_token, 'the stored tokens are the same')
  no_secrets(dir, text)
end)

T.case('a broken site: wrong secret, a lock of another account, an offline gateway, a 14-byte +9', function()
  S.fresh_state(function(st)
    with_guest_code(st)
    st.gateways[2].online = false
  end)
  local room103 = S.room('32/1/32', 9999, '103')
  for _, o in ipairs(room103) do
    if o.address == '32/1/41' then o.datatype = K.dt.string end
  end
  local dir = S.new_site('commission_broken', site_objects(room103), { client_secret = 'wrong-secret-0000' })
  seed_tokens(dir)
  local before = locks_text(T.get_state())
  local lines, text = commission(dir)
  T.eq(lines[1], 'TTLock: Commissioning: 4 problems (read only: nothing was changed on any lock)', 'verdict first:\n' .. text)
  local want = {
    'client_secret is wrong: copy it again from the TTLock developer portal (euopen.ttlock.com \226\134\146 your application)',
    'Room 103 (32/1/32): lock 9999 is not administered by this account',
    'gateway GW floor 2 (id 2) is offline: check its power and network (no code reaches Room 102 (32/1/16), Main door (common door) meanwhile)',
    '+9 of room 103 (32/1/41) is a 14-byte string: make it a 250-byte text',
  }
  for _, w in ipairs(want) do
    T.eq(count(text, w), 1, 'named once: "' .. w .. '"\n' .. text)
  end
  for i = 1, 4 do
    T.eq(count(text, 'problem ' .. i .. ': '), 1, 'problem line ' .. i)
  end
  T.ok(not text:find('problem 5', 1, true), 'no fifth problem')
  T.eq(count(text, 'is offline'), 1, 'the offline gateway is named once')
  T.ok(text:find('client id and secret: WRONG (see the problems)', 1, true), 'the secret fact')
  T.ok(text:find('  lock 1002 Room 102: battery 64 %; gateway GW floor 2 OFFLINE; room 102', 1, true), 'fact line of 1002')
  T.ok(#lines <= 40, 'one screen: ' .. #lines .. ' lines')
  T.eq(locks_text(T.get_state()), before, 'no lock or gateway changed')
  only_reads('broken site')
  T.eq(T.counters().token_grants + T.counters().token_refreshes, 0, 'the working tokens are not touched')
  local stored = S.dump(dir).storage.ttlock_tokens
  T.eq(stored and stored.access_token, FIX.tokens[1].access_token, 'the stored tokens are the same')
  no_secrets(dir, text)
end)

T.case('a 30-room site fits one screen: only the locks that need a look, the rest in one line', function()
  S.fresh_state(function(st)
    for i = 1, 30 do
      st.locks[#st.locks + 1] = { lock_id = 5000 + i, alias = 'Room ' .. (500 + i), gateway_ids = { (i % 2) + 1 },
        battery = i == 7 and 12 or 80, open_state = 0, remote_unlock = true, passcodes = {} }
    end
  end)
  local objs = {}
  for i = 1, 30 do
    local ga = string.format('35/%d/%d', math.floor((i - 1) / 16), ((i - 1) % 16) * 16)
    for _, o in ipairs(S.room(ga, 5000 + i, tostring(500 + i))) do objs[#objs + 1] = o end
  end
  local dir = S.new_site('commission-big', objs)
  seed_tokens(dir)
  local lines, text = commission(dir)
  T.ok(#lines <= 25, #lines .. ' lines:\n' .. text)
  T.ok(text:find('lock 5007 Room 507: battery 12 %', 1, true), 'the low battery is listed: ' .. text)
  T.ok(text:find('and 30 more lock(s) in use here, each with a gateway online and a battery at 80 % or more', 1, true),
    'the others (29 rooms and the main door) in one line: ' .. text)
  T.ok(text:find('lock 1002', 1, true), 'a lock of the account not used here is listed: ' .. text)
end)

T.case('a wrong secret on a new site: no login tried, the secret named once', function()
  S.fresh_state()
  local dir = S.new_site('commission_newsecret', site_objects(), { client_secret = 'wrong-secret-0000' })
  local lines, text = commission(dir)
  T.eq(lines[1], 'TTLock: Commissioning: 1 problem (read only: nothing was changed on any lock)', 'verdict:\n' .. text)
  T.eq(count(text, 'client_secret is wrong'), 1, 'the secret, once')
  T.ok(text:find('tokens: not tried (client id or secret wrong)', 1, true), 'tokens not tried:\n' .. text)
  T.eq(T.requests('/oauth2/token'), 0, 'no login with a wrong secret')
  T.eq(T.requests('/v3/lock/list'), 0, 'nothing listed without a token')
  only_reads('new site, wrong secret')
end)

T.case('a new site without tokens: the app account is checked, and the tokens it gives are kept', function()
  S.fresh_state()
  local dir = S.new_site('commission_login', site_objects())
  local lines, text = commission(dir)
  T.eq(lines[1], 'TTLock: Commissioning: all good (read only: nothing was changed on any lock)', 'verdict:\n' .. text)
  T.ok(text:find('tokens: no stored token worked: new ones were obtained', 1, true), text)
  T.eq(T.counters().token_grants, 1, 'one login')
  local stored = S.dump(dir).storage.ttlock_tokens
  T.ok(stored and stored.access_token, 'the new tokens are stored')
  S.remember_tokens()
  no_secrets(dir, text)
end)

T.case('a new site without tokens and without username/password_md5: one plain line', function()
  S.fresh_state()
  local dir = S.new_site('commission_nologin', site_objects(), { username = NONE, password_md5 = NONE })
  local lines, text = commission(dir)
  T.eq(lines[1], 'TTLock: Commissioning: 1 problem (read only: nothing was changed on any lock)', 'verdict:\n' .. text)
  T.eq(count(text, 'problem 1: no TTLock login yet: set username and password_md5 (the TTLock app account) in ttlock_config'), 1, text)
  T.ok(not text:find('rejected the login', 1, true), 'not "rejected the login"')
  T.eq(T.requests('/oauth2/token'), 0, 'nothing to log in with')
end)

T.case('a missing ttlock.so: the report says where to upload it', function()
  S.fresh_state()
  local empty = T.tmpdir()
  local dir = S.new_site('commission_noso', site_objects(), { cpath = empty .. '/?.so' })
  local lines, text = commission(dir)
  T.eq(lines[1], 'TTLock: Commissioning: 1 problem (read only: nothing was changed on any lock)', 'verdict:\n' .. text)
  T.eq(lines[2], 'problem 1: ttlock.so not found in ' .. empty .. '/: upload it there (see README, Install)', text)
  T.ok(not text:find('no file', 1, true) and not text:find('preload', 1, true), 'no search-path dump')
  T.eq(T.total_requests(), 0, 'no request')
end)

T.done()
