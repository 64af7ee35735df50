-- Event script on the tag CheckOut (the +7 object of a room block): true removes the stay's code
-- from every door now. Execution mode: "Normal" (every event runs; a second one waits for the first).
require('user.ttlock').checkout_event(event)
