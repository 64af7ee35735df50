-- The README's uninstall snippet, run as written through the LM emulator on a site that used
-- every part of the module (tokens, a stay, door-event cursors and state): afterwards LM storage
-- holds no key of the module.
local T = require('testlib')
local S = require('scriptsite')
local K = S.K

T.case('the README uninstall snippet drops every LM storage key of the module', function()
  S.fresh_state()
  local readme = T.read_file(T.env.repo .. '/README.md')
  local from = assert(readme:find('- **Uninstall**', 1, true), 'README has an Uninstall item')
  local snippet = readme:match('```lua\n(.-)```', from)
  T.ok(snippet and snippet:find('storage.delete', 1, true), 'the snippet: ' .. tostring(snippet))
  local obj = { address = '40/1/1', name = 'Room 101 last opened by', datatype = K.dt.text, value = '',
                comment = 'LockId:1001', tags = { 'LastOpenedBy' } }
  local dir = S.new_site('uninstall', S.concat(S.room('32/1/0', 1001, '101', { code = '48213' }), { obj }),
    { staff_codes = { { name = 'Cleaning', code = '246810', doors = 'rooms' } } })
  S.event(dir, 'passcode_event.lua', '32/1/0', true)
  local f = dir .. '/door-events-now.lua'
  K.writefile(f, "require('user.ttlock').door_events()\n")
  T.eq((S.lm_run{ site = dir, script = f }), 0, 'door events ran')
  S.scheduled(dir, 'purge_scheduled.lua')  -- the staff sync's record and the kept state
  local keys = { 'ttlock_tokens', 'ttlock_events', 'ttlock_stay_101', 'ttlock_cursor_1001', 'ttlock_cursor_2001',
                 'ttlock_staff', 'ttlock_persist_state' }
  local before = K.dump(S.lm_run, dir, keys).storage
  for _, k in ipairs(keys) do T.ok(before[k] ~= nil, 'before: ' .. k .. ' is set') end
  local u = dir .. '/uninstall.lua'
  K.writefile(u, snippet)
  local code, out = S.lm_run{ site = dir, script = u }
  T.eq(code, 0, 'the snippet runs: ' .. out)
  local after = K.dump(S.lm_run, dir, keys).storage
  for _, k in ipairs(keys) do T.eq(after[k], nil, 'after: ' .. k .. ' is gone') end
end)

T.done()
