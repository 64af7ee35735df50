-- Resident script, sleep interval 60 seconds: door events and site health within the monthly API
-- budget (settings api_budget, battery_low). Each run asks the module which doors are due (it
-- spreads the budget over the month: awaited arrivals first, then common doors, then the rest),
-- reads their new records, writes the door-event objects and raises an alert only when
-- something changes (battery low, gateway offline or back, token near its end). Resident, not
-- scheduled: the process keeps its state between runs and writes LM storage only when something
-- happened or every 30 minutes (a scheduled script would start from storage every minute).
require('user.ttlock').door_events()
