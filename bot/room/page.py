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
from bot.room.view import Item, RaidCard, View

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
    N_("Raid checklist"),
    N_("Save"),
    N_("Raids on the map"),
    N_("Map of sightings and raids: {n}"),
    N_("Show events up to"),
    N_("Print the briefing"),
    N_("{n} sightings here: {refs}. Enter zooms in."),
    N_("A raid has the go: the checklist comes first."),
)


STATIC = "/room/static"
VENDOR = f"{STATIC}/vendor"
# The map library and basemap, served from the package (scripts/vendor-room-map).
_MAP_CSS = (
    f'<link rel="stylesheet" href="{VENDOR}/leaflet/leaflet.css">'
    f'<link rel="stylesheet" href="{VENDOR}/markercluster/MarkerCluster.css">'
)
# Fetched while the scripts load, not after them (the page's first render).
_BASEMAP = (
    f'<link rel="preload" href="{VENDOR}/world-atlas/countries-50m.json" as="fetch" '
    'crossorigin="anonymous">'
)
_MAP_JS = "".join(
    f'<script src="{VENDOR}/{path}" defer></script>'
    for path in (
        "leaflet/leaflet.js",
        "markercluster/leaflet.markercluster.js",
        "topojson/topojson-client.min.js",
    )
)


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def layout(
    title: str,
    body: str,
    *,
    csrf: str | None = None,
    lang: str | None = None,
    wide: bool = False,
    basemap: bool = False,
) -> str:
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
        f"{_MAP_CSS if wide else ''}{_BASEMAP if basemap else ''}"
        f'<link rel="stylesheet" href="{STATIC}/room.css"></head>'
        f'<body class="{"wide" if wide else "narrow"}">'
        f'<a class="skip" href="#content">{_e(_("Skip to content"))}</a>'
        f'<header><a href="/room/" class="brand">Taskforce · {_e(_("Situation room"))}</a>'
        f"{logout}</header>"
        f'<main id="content" tabindex="-1">{body}</main>'
        f"{_MAP_JS if wide else ''}"
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


# The briefing's section headings (bot/core/briefing.py), in the reader's language: a line that
# starts with one of them opens a section. Those with a blank are matched up to it.
def _headings() -> tuple[str, ...]:
    texts = (
        _("INFORMATION — since {time}"),
        _("INTENT"),
        _("METHOD"),
        _("ADMINISTRATION"),
        _("RISK"),
        _("COMMUNICATIONS — {heading}"),
        _("HUMANITARIAN"),
    )
    return tuple(t.split("{", 1)[0].strip() for t in texts)


def briefing_html(msg: dict[str, Any]) -> str:
    """The IIMARCH briefing as sections with headings (printable: room.css `@media print`)."""
    heads = _headings()
    sections: list[tuple[str, list[str]]] = []
    before: list[str] = []
    for line in msg.get("lines") or []:
        if not line.startswith(" ") and any(line.startswith(h) for h in heads):
            sections.append((line, []))
        elif sections:
            sections[-1][1].append(line.strip())
        else:
            before.append(line)
    fields = msg.get("fields") or []
    out = [f"<h3>{_e(msg.get('title', ''))}</h3>"]
    if fields:
        out.append(
            "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in fields) + "</dl>"
        )
    out += [f'<p class="alert">{_e(x)}</p>' for x in before]
    for n, (head, lines) in enumerate(sections, 1):
        items = "".join(f"<li>{_e(x)}</li>" for x in lines)
        out.append(
            f'<section class="iimarch" aria-labelledby="ii-{n}"><h4 id="ii-{n}">{_e(head)}</h4>'
            + (f"<ul>{items}</ul>" if items else "")
            + "</section>"
        )
    if msg.get("context"):
        out.append(f'<p class="muted">{_e(msg["context"])}</p>')
    return "".join(out)


def _item(code: str, seq: int, item: Item, csrf: str, refused: tuple[int, int, str] | None) -> str:
    """One checklist item on its own line: a checkbox (a form of its own: the same POST as
    without script), and beside it why it may not be ticked, or why a tick was refused."""
    ident = f"R-{seq}-{item.position}"
    why = item.why_not or ""
    alert = ""
    if refused is not None and refused[:2] == (seq, item.position):
        why, alert = refused[2], ' role="alert"'
    verb = item.may or ("uncheck" if item.done else "check")
    hint = (
        _("Tick item {n} of R-{raid}") if verb == "check" else _("Untick item {n} of R-{raid}")
    ).format(n=item.position, raid=seq)
    box = (
        f'<input type="checkbox" id="{ident}-box" name="done" value="1" title="{_e(hint)}"'
        f"{' checked' if item.done else ''}{'' if item.may else ' disabled'}"
        f' aria-describedby="{ident}-why">'
    )
    save = (
        f'<noscript><button type="submit">{_e(_("Save"))}</button></noscript>' if item.may else ""
    )
    return (
        f'<li class="item{" done" if item.done else ""}" id="{ident}">'
        f'<form method="post" action="/room/op/{_e(code)}/raid/{seq}/{verb}" class="tick">'
        f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
        f'<input type="hidden" name="item" value="{item.position}">'
        f'{box}<label for="{ident}-box">{_e(item.line)}</label>{save}'
        f'<span class="why" id="{ident}-why"{alert}>{_e(why)}</span></form></li>'
    )


def _raid(code: str, card: RaidCard, csrf: str, refused: tuple[int, int, str] | None) -> str:
    msg = dict(card.message)
    msg["lines"] = []  # the items are drawn as checkboxes below
    phases: list[str] = []
    for item in card.items:
        if item.phase not in phases:
            phases.append(item.phase)
    groups = "".join(
        f'<h4>{_e(phase)}</h4><ul class="checklist">'
        + "".join(_item(code, card.seq, i, csrf, refused) for i in card.items if i.phase == phase)
        + "</ul>"
        for phase in phases
    )
    return (
        f'<article class="raid raid-{_e(card.status)}" id="R-{card.seq}">'
        f"{_message(msg)}{groups}</article>"
    )


def operation(
    view: View,
    csrf: str,
    *,
    tiles: str | None,
    said: str | None = None,
    refused: tuple[int, int, str] | None = None,
) -> str:
    """The operation's room: map, timeline and raid checklist side by side (stacked on a
    phone, the checklist first while a raid has the go), then the briefing and members."""
    data = {
        "code": view.code,
        "fingerprint": view.fingerprint(),
        "tiles": tiles,
        "spots": [asdict(s) for s in view.spots],
        "pins": [asdict(p) for p in view.pins],
    }
    blob = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e")
    beside = refused is not None and any(
        c.seq == refused[0] and any(i.position == refused[1] for i in c.items) for c in view.raids
    )  # a refusal is said beside its item; above everything when that item is not shown
    alert = f'<p class="alert" role="alert">{_e(said)}</p>' if said and not beside else ""
    spots = "".join(
        f'<li data-ref="{_e(s.ref)}" data-at="{_e(s.observed)}">'
        f"{'<strong>MATCH</strong> ' if s.match else ''}"
        f"{_e(s.ref)} {_e(s.what)} — {_e(s.location)} · {_e(s.shown)} · {_e(s.tlp)}</li>"
        for s in view.spots
    )
    pins = "".join(
        f'<li data-ref="{_e(p.ref)}">{_e(p.ref)} {_e(p.title)} — {_e(p.location)} · '
        f"{_e(p.status)}</li>"
        for p in view.pins
    )
    events = "".join(
        f'<li class="ev-{_e(ev.kind)}" data-at="{_e(ev.at)}"><time datetime="{_e(ev.at)}">'
        f"{_e(ev.shown)}</time> {_e(ev.text)}</li>"
        for ev in view.events
    )
    raids = "".join(_raid(view.code, c, csrf, refused) for c in view.raids) or (
        f"<p>{_e(_('No raids yet.'))}</p>"
    )
    live_raid = any(c.status == "go" for c in view.raids)
    sent = "".join(f"<li>{_e(t)}</li>" for t in view.briefings_sent)
    members = "".join(
        f"<tr><td>{_e(n)}</td><td>{_e(a)}</td><td>{_e(r)}</td></tr>" for n, a, r in view.members
    )
    agencies = "".join(f"<li>{_e(c)} — {_e(n)} ({_e(k)})</li>" for c, n, k in view.agencies)
    pin_list = (
        f'<h3>{_e(_("Raids on the map"))}</h3><ul id="raid-pins" class="lines">{pins}</ul>'
        if pins
        else ""
    )
    go = _("A raid has the go: the checklist comes first.")
    go_note = f'<p class="alert">{_e(go)}</p>' if live_raid else ""
    map_section = f"""
<section id="map-section" class="pane pane-map" aria-labelledby="map-h">
<h2 id="map-h">{_e(_("Map of sightings"))}</h2>
<div id="map" class="map" data-empty="{_e(_("No sightings with coordinates."))}"
 data-label="{_e(_("Map of sightings and raids: {n}"))}" data-described="{_e(_("Described"))}"
 data-cluster="{_e(_("{n} sightings here: {refs}. Enter zooms in."))}"></div>
<div class="controls"><button type="button" id="map-reset">{_e(_("Whole map"))}</button>
<div class="slider"><label for="until">{_e(_("Show events up to"))}</label>
<input type="range" id="until" min="0" max="0" value="0">
<output id="until-text" for="until"></output></div></div>
<ul id="legend" class="legend" aria-label="{_e(_("Subjects"))}"></ul>
<h3>{_e(_("Sightings"))}</h3><ul id="sightings" class="lines">{
        spots or f"<li>{_e(_('No sightings.'))}</li>"
    }</ul>
{pin_list}
</section>"""
    timeline = f"""
<section id="timeline" class="pane pane-timeline" aria-labelledby="tl-h">
<h2 id="tl-h">{_e(_("Timeline"))}</h2>
<ol class="timeline" tabindex="0" aria-labelledby="tl-h">{
        events or f"<li>{_e(_('Nothing yet.'))}</li>"
    }</ol></section>"""
    checklist = f"""
<section id="raids" class="pane pane-raids" aria-labelledby="raids-h">
<h2 id="raids-h">{_e(_("Raid checklist"))}</h2>
{go_note}
<div class="scroll" tabindex="0" aria-labelledby="raids-h">{raids}</div></section>"""
    panes = (
        (checklist + map_section + timeline) if live_raid else (map_section + timeline + checklist)
    )
    body = f"""
<div class="ophead"><h1>{_e(view.code)} — {_e(view.name)}</h1>
<p class="muted">{
        _e(
            _("Your role: {role} · status {status} · default {tlp}").format(
                role=term(view.role), status=term(view.status), tlp=view.tlp
            )
        )
    }</p>
<p id="live" class="muted" role="status" aria-live="polite" data-updated="{
        _e(_("Updated {time}"))
    }"></p></div>
{alert}
<nav class="tabs" aria-label="{_e(_("Sections"))}">
<a href="#map-section">{_e(_("Map"))}</a> <a href="#timeline">{_e(_("Timeline"))}</a>
<a href="#raids">{_e(_("Raids"))}</a> <a href="#briefing">{_e(_("Briefing"))}</a>
<a href="#people">{_e(_("Members"))}</a></nav>
<div class="board{" raid-live" if live_raid else ""}">{panes}</div>
<section id="briefing" class="briefing" aria-labelledby="brief-h">
<h2 id="brief-h">{_e(_("Briefing"))}</h2>
<button type="button" id="print-briefing">{_e(_("Print the briefing"))}</button>
{briefing_html(view.briefing)}
<h3>{_e(_("Last briefings sent"))}</h3>
<ul>{sent or f"<li>{_e(_('None yet.'))}</li>"}</ul></section>
<section id="people" aria-labelledby="people-h"><h2 id="people-h">{_e(_("Members"))}</h2>
<table><thead><tr><th scope="col">{_e(_("Name"))}</th><th scope="col">{_e(_("Agency"))}</th>
<th scope="col">{_e(_("Role"))}</th></tr></thead><tbody>{members}</tbody></table>
<h3>{_e(_("Agencies"))}</h3><ul>{agencies or f"<li>{_e(_('None recorded.'))}</li>"}</ul>
</section>
<script type="application/json" id="room-data">{blob}</script>
"""
    return layout(f"{view.code}", body, csrf=csrf, wide=True, basemap=not tiles)
