"""The built-in checklist templates' texts, marked for the catalogue.

`bot/core/templates/*.toml` is data that `pybabel extract` does not read; this module repeats the
built-in templates' title and item texts as `N_()` so each language translates them, and
`checklists.item_text` shows a built-in item in the reader's language, keyed by its English
text. A custom template (`taskforce templates import`) is shown as typed.
`tests/test_i18n.py` fails when this list and the shipped templates differ.
"""

from __future__ import annotations

from bot.base.i18n import N_

BUILTIN_TEXTS: frozenset[str] = frozenset(
    {
        N_("Trafficking raid"),
        N_("Warrant / legal authority checked: right form, signed, in date"),
        N_("Deconfliction done: no other agency acting on the same target or people"),
        N_("Prosecutor / investigating judge informed"),
        N_("Threat and risk assessment scored"),
        N_("Drive-by done and site plan drawn (entries, exits)"),
        N_("Contingency and exit plan set"),
        N_(
            "Named roles assigned: operation lead, site commander, evidence officer, victim liaison"
        ),
        N_("Radio channel and call signs set"),
        N_("Rendezvous point set"),
        N_("Nearest hospital and medical cover arranged"),
        N_("Interpreters booked for the expected languages"),
        N_("Same-gender officers available for searches"),
        N_("NGO / victim-support staff and shelter places on standby"),
        N_("Child-protection contact on call if minors may be present (note if not needed)"),
        N_("Transport for victims arranged, separate from suspects"),
        N_("Labour inspectorate involved for a labour-exploitation site"),
        N_("Partner agencies in other countries informed (simultaneous action days)"),
        N_("Media line agreed"),
        N_("Briefing held and roles read back"),
        N_("Suspected victims separated from suspects before any interview"),
        N_("Victims not treated as offenders (non-punishment principle)"),
        N_("Urgent needs first (medical, food, safety), then interviews with interpreters"),
        N_("Age assessed where a minor may be present (in doubt, presumed a child)"),
        N_("Evidence seized, sealed and logged (chain of custody)"),
        N_("Phones and documents recovered (passports are often held by controllers)"),
        N_("Victims referred to the national referral mechanism (the authority's duty)"),
        N_("Support services and shelter arranged with the NGO partner"),
        N_("Anyone under 18 referred, always"),
        N_("Foreign victims told of their rights and of the reflection and recovery period"),
        N_("Consular notification for foreign victims (with their consent)"),
        N_("Debrief held"),
        N_("Intelligence from the raid graded and recorded"),
    }
)
