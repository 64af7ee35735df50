-- ttlock.month_request_count() through the built module in a real Lua host (lua5.1 / luajit)
-- against the simulator: TTLock's count of this month's /v3 requests (the simulator counts since
-- its counters were reset), agreeing with ttlock.stats(); a wrong client secret found at once
-- (auth_failed, errcode 10001, the table's advice) without a token request or a token save; and
-- the secret in no log line, error or result.
local T = require('testlib')
local fresh, requests = T.fresh, T.requests
local ttlock = require('ttlock')

local E = T.env
local DAY = 86400 * 1000
local FIX = T.fixture()
local MONTH = '/app/getMonthRequestCount'
local WRONG = 'wrong-secret-8d41e7'

local LINES = {}
local SAVES = 0
local STORE = { tokens = { access_token = FIX.tokens[1].access_token, refresh_token = FIX.tokens[1].refresh_token,
                           expires_at_ms = os.time() * 1000 + 80 * DAY } }

local function configure(secret)
  ttlock.configure{
    client_id = FIX.app.client_id, client_secret = secret or FIX.app.client_secret,
    api_base = E.base_url, ca_file = E.ca_file, state_dir = T.tmpdir(),
    retry_backoff_ms = 10, timeout_s = 10, log_level = 'debug',
    token_store = { load = function() return STORE.tokens end,
                    save = function(t) STORE.tokens = t; SAVES = SAVES + 1 end },
    log = function(line) LINES[#LINES + 1] = line end,
  }
end

T.case('the count of this month follows the /v3 calls', function()
  fresh()
  configure()
  T.eq(type(ttlock.month_request_count), 'function')
  T.eq(ttlock.month_request_count(), 0)
  for _ = 1, 3 do assert(ttlock.battery{ lock_id = 1001 }) end
  local n, err = ttlock.month_request_count()
  T.eq(err, nil)
  T.eq(n, 3)
  T.eq(ttlock.stats().api_calls, 3, 'the module counted the same calls')
  T.eq(requests(MONTH), 2)
  T.eq(requests('/oauth2/token'), 0)
end)

T.case('misuse raises', function()
  configure()
  T.raises(function() ttlock.month_request_count{ month = '2026-01' } end)
  T.raises(function() ttlock.month_request_count({}, 1) end)
end)

T.case('a wrong secret is found at once, the tokens untouched', function()
  fresh()
  configure(WRONG)
  SAVES = 0
  local before = STORE.tokens
  local n, err = ttlock.month_request_count()
  T.eq(n, nil)
  T.eq(err.code, 'auth_failed')
  T.eq(err.errcode, 10001)
  T.ok(err.advice:find('client_secret', 1, true), err.advice)
  T.eq(requests(MONTH), 1, 'not retried')
  T.eq(requests('/oauth2/token'), 0)
  T.eq(SAVES, 0)
  T.ok(STORE.tokens == before)
  for _, s in ipairs{ err.message, err.advice, tostring(err), table.concat(LINES, '\n') } do
    T.ok(not s:find(WRONG, 1, true), 'wrong secret leaked: ' .. s)
    T.ok(not s:find(FIX.app.client_secret, 1, true), 'secret leaked: ' .. s)
  end
  T.ok(table.concat(LINES, '\n'):find(MONTH, 1, true), 'the request was logged')
  configure()
end)

T.done()
