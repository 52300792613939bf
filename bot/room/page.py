"""The HTML of the situation room. Every user-typed text is escaped here, once.

Pages work without JavaScript (forms post and redirect); `static/room.js` draws the map
from the JSON data block, adds the time slider and re-fetches the page on live updates.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from html import escape
from typing import Any

from bot.base.i18n import N_, _, current_language, is_rtl
from bot.core.vocabulary import term
from bot.room.view import RaidCard, View

# The pages' sentences are written inside f-strings, which the catalogue's extractor cannot
# look into (Python 3.11 reads an f-string as one token): named here so that they reach the
# catalogue and are translated. tests/test_i18n.py fails for any marked sentence in bot/
# that the catalogue lacks.
_IN_F_STRINGS = (
    N_("Sign out"),
    N_("Skip to content"),
    N_("Sign in to the situation room"),
    N_("This link works once, in this browser, for the member who asked for it."),
    N_("Signed in as {name}."),
    N_("You are in no operation."),
    N_("No raids yet."),
    N_("Your role: {role} · status {status} · default {tlp}"),
    N_("Updated {time}"),
    N_("Sections"),
    N_("Map"),
    N_("Timeline"),
    N_("Raids"),
    N_("Map of sightings"),
    N_("No sightings with coordinates."),
    N_("Map of sightings: {n}"),
    N_("Described"),
    N_("Whole map"),
    N_("Show sightings up to"),
    N_("Subjects"),
    N_("Sightings"),
    N_("Nothing yet."),
    N_("Last briefings sent"),
    N_("None yet."),
    N_("Agencies"),
    N_("None recorded."),
)


STATIC = "/room/static"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def layout(title: str, body: str, *, csrf: str | None = None, lang: str | None = None) -> str:
    """A whole page: the shared head, a skip link, the body."""
    lang = lang or current_language()  # the reader's, set by the page's handler
    meta = f'<meta name="csrf-token" content="{_e(csrf)}">' if csrf else ""
    logout = (
        f'<form method="post" action="/room/logout" class="logout">'
        f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
        f'<button type="submit">{_e(_("Sign out"))}</button></form>'
        if csrf
        else ""
    )
    return (
        f'<!doctype html><html lang="{_e(lang)}" dir="{"rtl" if is_rtl(lang) else "ltr"}">'
        '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="no-referrer">{meta}'
        f"<title>{_e(title)} · Taskforce</title>"
        f'<link rel="stylesheet" href="{STATIC}/room.css"></head><body>'
        f'<a class="skip" href="#content">{_e(_("Skip to content"))}</a>'
        f'<header><a href="/room/" class="brand">Taskforce · {_e(_("Situation room"))}</a>'
        f"{logout}</header>"
        f'<main id="content" tabindex="-1">{body}</main>'
        f'<script src="{STATIC}/room.js" defer></script></body></html>'
    )


def sentence_page(title: str, sentence: str) -> str:
    """A page that says one thing (signed out, refused, not found)."""
    return layout(title, f"<h1>{_e(title)}</h1><p>{_e(sentence)}</p>")


def confirm_login(token: str, nonce: str, name: str, identity: str) -> str:
    """The page a sign-in link opens: whom it signs in, and one button, so link previews
    never use the link (and nobody is signed in, unaware, as someone else)."""
    who = _("Sign in as {name} ({identity})?").format(name=name, identity=identity)
    return layout(
        _("Sign in"),
        f"<h1>{_e(_('Sign in to the situation room'))}</h1>"
        f'<p id="signing-in-as"><strong>{_e(who)}</strong></p>'
        f"<p>{_e(_('This link works once, in this browser, for the member who asked for it.'))}"
        "</p>"
        '<form method="post" action="/room/login">'
        f'<input type="hidden" name="t" value="{_e(token)}">'
        f'<input type="hidden" name="nonce" value="{_e(nonce)}">'
        f'<button type="submit" id="sign-in">{_e(_("Sign in"))}</button></form>',
    )


def operations(name: str, ops: list[tuple[str, str, str, str]], csrf: str) -> str:
    """The member's operations: code, name, role, status."""
    items = "".join(
        f'<li><a href="/room/op/{_e(code)}">{_e(code)} — {_e(title)}</a> '
        f'<span class="muted">{_e(role)}, {_e(status)}</span></li>'
        for code, title, role, status in ops
    )
    body = (
        f"<h1>{_e(_('Your operations'))}</h1>"
        f"<p>{_e(_('Signed in as {name}.').format(name=name))}</p>"
        + (f"<ul>{items}</ul>" if items else f"<p>{_e(_('You are in no operation.'))}</p>")
    )
    return layout(_("Situation room"), body, csrf=csrf)


def _message(msg: dict[str, Any], heading: str = "h3") -> str:
    parts = []
    if msg.get("title"):
        mark = f'<span class="mark">{_e(msg["mark"])}</span> ' if msg.get("mark") else ""
        parts.append(f"<{heading}>{mark}{_e(msg['title'])}</{heading}>")
    fields = msg.get("fields") or []
    if fields:
        parts.append(
            "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in fields) + "</dl>"
        )
    lines = msg.get("lines") or []
    if lines:
        parts.append('<ul class="lines">' + "".join(f"<li>{_e(x)}</li>" for x in lines) + "</ul>")
    if msg.get("context"):
        parts.append(f'<p class="muted">{_e(msg["context"])}</p>')
    return "".join(parts)


def _raid(code: str, card: RaidCard, csrf: str) -> str:
    def form(action: str, position: int, label: str) -> str:
        return (
            f'<form method="post" action="/room/op/{_e(code)}/raid/{card.seq}/{action}">'
            f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
            f'<input type="hidden" name="item" value="{position}">'
            f'<button type="submit" data-item="{position}">{_e(label)}</button></form>'
        )

    ticks = "".join(
        form("check", p, _("Tick item {n} of R-{raid}").format(n=p, raid=card.seq))
        for p in card.open_items
    )
    unticks = "".join(
        form("uncheck", p, _("Untick item {n} of R-{raid}").format(n=p, raid=card.seq))
        for p in card.ticked_items
    )
    actions = f'<div class="ticks">{ticks}{unticks}</div>' if ticks or unticks else ""
    return f'<article class="raid" id="R-{card.seq}">{_message(card.message)}{actions}</article>'


def operation(view: View, csrf: str, *, tiles: str | None, said: str | None = None) -> str:
    """The operation's room: map, timeline, raids, briefing, members and agencies."""
    data = {
        "code": view.code,
        "fingerprint": view.fingerprint(),
        "tiles": tiles,
        "spots": [asdict(s) for s in view.spots],
    }
    blob = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e")
    alert = f'<p class="alert" role="alert">{_e(said)}</p>' if said else ""
    spots = "".join(
        f'<li data-ref="{_e(s.ref)}">{"<strong>MATCH</strong> " if s.match else ""}'
        f"{_e(s.ref)} {_e(s.what)} — {_e(s.location)} · {_e(s.shown)} · {_e(s.tlp)}</li>"
        for s in view.spots
    )
    events = "".join(
        f'<li class="ev-{_e(ev.kind)}"><time datetime="{_e(ev.at)}">{_e(ev.shown)}</time> '
        f"{_e(ev.text)}</li>"
        for ev in view.events
    )
    raids = "".join(_raid(view.code, c, csrf) for c in view.raids) or (
        f"<p>{_e(_('No raids yet.'))}</p>"
    )
    sent = "".join(f"<li>{_e(t)}</li>" for t in view.briefings_sent)
    members = "".join(
        f"<tr><td>{_e(n)}</td><td>{_e(a)}</td><td>{_e(r)}</td></tr>" for n, a, r in view.members
    )
    agencies = "".join(f"<li>{_e(c)} — {_e(n)} ({_e(k)})</li>" for c, n, k in view.agencies)
    body = f"""
<h1>{_e(view.code)} — {_e(view.name)}</h1>
<p class="muted">{
        _e(
            _("Your role: {role} · status {status} · default {tlp}").format(
                role=term(view.role), status=term(view.status), tlp=view.tlp
            )
        )
    }</p>
{alert}
<p id="live" class="muted" role="status" aria-live="polite" data-updated="{
        _e(_("Updated {time}"))
    }"></p>
<nav class="tabs" aria-label="{_e(_("Sections"))}">
<a href="#map-section">{_e(_("Map"))}</a> <a href="#timeline">{_e(_("Timeline"))}</a>
<a href="#raids">{_e(_("Raids"))}</a> <a href="#briefing">{_e(_("Briefing"))}</a>
<a href="#people">{_e(_("Members"))}</a></nav>
<section id="map-section" aria-labelledby="map-h"><h2 id="map-h">{_e(_("Map of sightings"))}</h2>
<div id="map" class="map" data-empty="{_e(_("No sightings with coordinates."))}"
 data-label="{_e(_("Map of sightings: {n}"))}" data-described="{_e(_("Described"))}"></div>
<button type="button" id="map-reset">{_e(_("Whole map"))}</button>
<div class="slider"><label for="until">{_e(_("Show sightings up to"))}</label>
<input type="range" id="until" min="0" max="0" value="0">
<output id="until-text" for="until"></output></div>
<ul id="legend" class="legend" aria-label="{_e(_("Subjects"))}"></ul>
<h3>{_e(_("Sightings"))}</h3><ul id="sightings" class="lines">{
        spots or f"<li>{_e(_('No sightings.'))}</li>"
    }</ul>
</section>
<section id="timeline" aria-labelledby="tl-h"><h2 id="tl-h">{_e(_("Timeline"))}</h2>
<ol class="timeline">{events or f"<li>{_e(_('Nothing yet.'))}</li>"}</ol></section>
<section id="raids" aria-labelledby="raids-h"><h2 id="raids-h">{_e(_("Raids"))}</h2>
{raids}</section>
<section id="briefing" aria-labelledby="brief-h"><h2 id="brief-h">{_e(_("Briefing"))}</h2>
{_message(view.briefing)}
<h3>{_e(_("Last briefings sent"))}</h3>
<ul>{sent or f"<li>{_e(_('None yet.'))}</li>"}</ul></section>
<section id="people" aria-labelledby="people-h"><h2 id="people-h">{_e(_("Members"))}</h2>
<table><thead><tr><th scope="col">{_e(_("Name"))}</th><th scope="col">{_e(_("Agency"))}</th>
<th scope="col">{_e(_("Role"))}</th></tr></thead><tbody>{members}</tbody></table>
<h3>{_e(_("Agencies"))}</h3><ul>{agencies or f"<li>{_e(_('None recorded.'))}</li>"}</ul>
</section>
<script type="application/json" id="room-data">{blob}</script>
"""
    return layout(f"{view.code}", body, csrf=csrf)
