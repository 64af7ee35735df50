-- Commissioning (run by hand: Scripting -> Scheduled, disabled, "Run script"; or any script run
-- once). Logs one report in the Logs tab: the verdict, the account's locks and gateways, the
-- rooms, the common doors, the tokens and the month's API calls, then one line per problem with
-- what to do. It changes nothing on any lock. Run it after the install and after any change.
require('user.ttlock').commission()
