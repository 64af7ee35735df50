-- Shared by the Lua tests of the LM scripts: sites (objects plus a ttlock_config pointing at the
-- simulator), runs of the scripts through the LM emulator (each run a separate process, LM's
-- module paths only), dumps of objects and storage, and the secrets seen so far (for the scans).
local T = require('testlib')
package.path = T.env.repo .. '/tests/lm/?.lua;' .. package.path
local K = require('sitekit')

local S = {}
S.K = K
S.SCRIPTS = T.env.repo .. '/lua/scripts/'
S.FIX = T.fixture()
S.NONE = {}  -- a config override that removes the key
S.sites = {}

local APP, USER = S.FIX.app, S.FIX.users[1]
S.secrets = { client_secret = APP.client_secret, password_md5 = USER.password_md5 }
local n_tokens = 0
-- Adds the simulator's current tokens to S.secrets (they rotate with every refresh).
function S.remember_tokens(state)
  for _, t in ipairs((state or T.get_state()).tokens or {}) do
    for _, k in ipairs({ 'access_token', 'refresh_token' }) do
      local v = t[k]
      if type(v) == 'string' and v ~= '' then
        n_tokens = n_tokens + 1
        S.secrets['token #' .. n_tokens] = v
      end
    end
  end
end
S.remember_tokens(S.FIX)

function S.lm_run(o)
  local env = { LM_HOST_PATHS = '0' }
  for k, v in pairs(o.env or {}) do env[k] = v end
  o.env = env
  local code, out = T.lm_run(o)
  if code == true then code = 0 elseif code == false then code = 1 end
  return code, out or ''
end

local tmp = T.tmpdir()

-- A site: objects plus a ttlock_config pointing at the simulator. By default it logs in with the
-- fixture user (a new site); cfg overrides keys (S.NONE removes one).
function S.new_site(name, objects, cfg)
  local dir = tmp .. '/' .. name
  local config = {
    client_id = APP.client_id, client_secret = APP.client_secret,
    api_base = T.env.base_url, ca_file = T.env.ca_file, state_dir = dir .. '/state',
    username = USER.username, password_md5 = USER.password_md5,
    common_doors = { { lock_id = 2001, name = 'Main door' } },
    purge_grace_s = 86400, purge_dry_run = true,
    cpath = T.env.cpath,
  }
  for k, v in pairs(cfg or {}) do
    if v == S.NONE then config[k] = nil else config[k] = v end
  end
  K.make_site{ dir = dir, objects = objects, config = config, interp = T.env.interp, repo = T.env.repo,
                event_scripts = K.event_scripts(T.env.repo) }
  S.sites[#S.sites + 1] = dir
  return dir
end

function S.concat(...)
  local out = {}
  for _, list in ipairs({ ... }) do
    for _, o in ipairs(list) do out[#out + 1] = o end
  end
  return out
end

function S.fresh_state(edit)
  local st = T.fixture()
  if edit then edit(st) end
  T.set_state(st)
  T.reset_counters()
  return st
end

function S.dump(dir)
  return K.dump(S.lm_run, dir, { 'ttlock_tokens' })
end

S.requests = T.requests

function S.count_codes(state, id)
  return #((K.lock(state, id) or {}).passcodes or {})
end

-- An event script run; env: e.g. { LM_GRP_DELAY = '0.5' } for LM's write delay.
function S.event(dir, script, ga, value, env)
  local code, out = S.lm_run{ site = dir, script = S.SCRIPTS .. script, event = ga, value = value, env = env }
  T.eq(code, 0, 'script ' .. script .. ' exit status; output: ' .. out .. '\nlog: ' .. K.log_text(dir))
end

function S.scheduled(dir, script, env)
  local code, out = S.lm_run{ site = dir, script = S.SCRIPTS .. script, env = env }
  T.eq(code, 0, 'script ' .. script .. ' exit status; output: ' .. out .. '\nlog: ' .. K.log_text(dir))
end

function S.window_text(from_d, from_t, to_d, to_t)
  return string.format('%02d.%02d %02d:%02d\226\128\147%02d.%02d %02d:%02d', from_d.day, from_d.month,
    from_t.hour, from_t.minute, to_d.day, to_d.month, to_t.hour, to_t.minute)
end

-- 'a/b/c' plus n in the sub-group ('32/1/0' + 7 = '32/1/7').
function S.ga_plus(ga, n)
  local a, b, c = ga:match('^(%d+)/(%d+)/(%d+)$')
  return string.format('%s/%s/%d', a, b, tonumber(c) + n)
end

-- Writes object values of a site between script runs, as a visualisation would.
function S.set_values(dir, values)
  local lines = {}
  for ga, v in pairs(values) do
    lines[#lines + 1] = string.format('grp.update(%q, %s)', ga, T.lm().serialize(v))
  end
  local f = dir .. '/set-values.lua'
  K.writefile(f, table.concat(lines, '\n') .. '\n')
  local code, out = S.lm_run{ site = dir, script = f }
  T.eq(code, 0, 'values written: ' .. out)
end

-- A room's stay memory in the site's LM storage (nil when there is none).
function S.stay_memory(dir, room)
  local d = K.dump(S.lm_run, dir, { 'ttlock_tokens', 'ttlock_stay_' .. room })
  return d.storage['ttlock_stay_' .. room]
end

-- A room block with the check-out object +7.
function S.room(ga, lock_id, name, o)
  o = o or {}
  o.checkout = true
  return K.room_block(ga, lock_id, name, o)
end

return S
