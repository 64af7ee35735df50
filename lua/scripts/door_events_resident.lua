-- Resident script, sleep interval 60 seconds: door events and site health within the monthly API
-- budget (settings api_budget, battery_low). Each run asks the module which doors are due (it
-- spreads the budget over the month: awaited arrivals first, then common doors, then the rest),
-- reads their new records, writes the door-event objects and raises an alert only when
-- something changes (battery low, gateway offline or back, token near its end). A scheduled
-- script "every minute" with the same line works the same way.
require('user.ttlock').door_events()
