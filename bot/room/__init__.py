"""The situation room: the operation on a map, in a browser, opened from chat.

`room` (a command of the core, `bot/commands/room.py`) answers privately with a one-time
sign-in link; the pages are served by the same `taskforce serve` app under `/room/`
(`bot/room/web.py`, mounted by `bot/serving/server.py`). Everything the room shows is
read with the core's read functions for that member, with the same role, TLP and
protection rules as chat, and every page that shows personal data is a `consult` audit
entry. Ticks go through the command core's `dispatch`, like a typed `check`.

The sign-in link and session tables are the store's (`bot/store/room_models.py`); issuing and
redeeming links and sessions is the core's (`bot/core/room_tokens.py`), which the `room`
command uses too.

- `view.py`     what one member may see of one operation (read through the core)
- `page.py`     the HTML of the pages (escaped once, here)
- `live.py`     server-sent events: "your view changed", never the data itself
- `web.py`      the Starlette routes, cookies and CSRF
"""
