"""Entities (issue 27): phones, accounts, handsets, documents, adverts and addresses as
subjects, their values normalised to one key whatever the written form, found in any form;
typed links between subjects with a source and a grade."""

from __future__ import annotations

import json

import pytest

from bot.core import entities
from bot.serving.app import App
from bot.store.models import Subject
from bot.store.models_entities import SubjectRelation
from tests.fieldintel import OP, fetch, ok, operation, refused, rows, text

# (kind, written form, regions, country, document type) → key. ≥ 30 forms, ≥ 8 countries.
FORMS: list[tuple[str, str, tuple[str, ...], str | None, str, str]] = [
    ("phone", "+34 612 34 56 78", ("ES",), None, "", "+34612345678"),
    ("phone", "0034612345678", ("ES",), None, "", "+34612345678"),
    ("phone", "612345678", ("ES", "PT"), None, "", "+34612345678"),
    ("phone", "612-34-56-78", ("ES",), None, "", "+34612345678"),
    ("phone", "(+34) 612.34.56.78", ("PT",), None, "", "+34612345678"),
    ("phone", "912 345 678", ("PT",), None, "", "+351912345678"),
    ("phone", "00351 912 345 678", ("ES",), None, "", "+351912345678"),
    ("phone", "07911 123456", ("GB",), None, "", "+447911123456"),
    ("phone", "+44 7911 123456", (), None, "", "+447911123456"),
    ("phone", "+359 88 123 4567", (), None, "", "+359881234567"),
    ("phone", "088 123 4567", ("BG",), None, "", "+359881234567"),
    ("phone", "06 12 34 56 78", ("FR",), None, "", "+33612345678"),
    ("phone", "0151 23456789", ("DE",), None, "", "+4915123456789"),
    ("phone", "0722 123 456", ("RO",), None, "", "+40722123456"),
    ("account", "ES91 2100 0418 4502 0005 1332", (), None, "", "ES9121000418450200051332"),
    ("account", "es9121000418450200051332", (), None, "", "ES9121000418450200051332"),
    ("account", "GB82 WEST 1234 5698 7654 32", (), None, "", "GB82WEST12345698765432"),
    ("account", "DE89 3704 0044 0532 0130 00", (), None, "", "DE89370400440532013000"),
    ("account", "FR14 2004 1010 0505 0001 3M02 606", (), None, "", "FR1420041010050500013M02606"),
    ("account", "PT50 0002 0123 1234 5678 9015 4", (), None, "", "PT50000201231234567890154"),
    ("account", "BG80 BNBG 9661 1020 3456 78", (), None, "", "BG80BNBG96611020345678"),
    ("account", "RO49 AAAA 1B31 0075 9384 0000", (), None, "", "RO49AAAA1B31007593840000"),
    ("account", "123-456 789 0", (), None, "", "1234567890"),
    ("handset", "35-209900-176148-1", (), None, "", "35209900176148"),
    ("handset", "352099001761481", (), None, "", "35209900176148"),
    ("handset", "35 209900 176148", (), None, "", "35209900176148"),
    ("handset", "3520990017614823", (), None, "", "35209900176148"),
    ("handset", "49-015420-323751-8", (), None, "", "49015420323751"),
    ("document", "54362315K", (), "ES", "id", "ES:54362315K"),
    ("document", "54.362.315-k", (), "ES", "id", "ES:54362315K"),
    ("document", "X2482300W", (), "ES", "id", "ES:X2482300W"),
    ("document", "752316 9263", (), "BG", "id", "BG:7523169263"),
    ("document", "1630615123457", (), "RO", "id", "RO:1630615123457"),
    ("document", "PA 123 4567", (), "FR", "passport", "FR:PA1234567"),
    ("document", "c01x00t47", (), "DE", "passport", "DE:C01X00T47"),
    (
        "advert",
        "https://www.locanto.es/ads/123/?utm_source=x#top",
        (),
        None,
        "",
        "locanto.es/ads/123",
    ),
    ("advert", "locanto.es/ads/123", (), None, "", "locanto.es/ads/123"),
    ("advert", "http://m.locanto.es/ads/123", (), None, "", "locanto.es/ads/123"),
    ("advert", "locanto @Anna_X", (), None, "", "locanto:anna_x"),
    ("advert", "locanto:anna_x", (), None, "", "locanto:anna_x"),
    ("address", "Calle Mayor 3, Madrid", (), None, "", "calle mayor 3 madrid"),
    ("address", "CALLE MAYOR, 3 — MADRID", (), None, "", "calle mayor 3 madrid"),
]

BAD: list[tuple[str, str, tuple[str, ...], str | None, str, str]] = [
    ("phone", "123", ("ES",), None, "", "not a phone number"),
    ("phone", "612345678", (), None, "", "with its country code"),
    ("phone", "call me", ("ES",), None, "", "not a phone number"),
    ("account", "ES92 2100 0418 4502 0005 1332", (), None, "", "check digits are wrong"),
    ("account", "GB00 WEST 1234 5698 7654 32", (), None, "", "not a valid IBAN"),
    ("account", "12", (), None, "", "not an account number"),
    ("handset", "352099001761482", (), None, "", "check digit"),
    ("handset", "12345", (), None, "", "not an IMEI"),
    ("document", "54362315K", (), None, "id", "issuing country"),
    ("document", "54362315A", (), "ES", "id", "not a valid identity number of ES"),
    ("advert", "just words here", (), None, "", "not an advert"),
]


@pytest.mark.parametrize(("kind", "value", "regions", "country", "doc", "key"), FORMS)
def test_each_written_form_gives_its_key(
    kind: str, value: str, regions: tuple[str, ...], country: str | None, doc: str, key: str
) -> None:
    normal = entities.read(kind, value, regions=regions, country=country, doc_type=doc or "other")
    assert normal.key == key


@pytest.mark.parametrize(("kind", "value", "regions", "country", "doc", "said"), BAD)
def test_invalid_values_are_refused_with_a_sentence(
    kind: str, value: str, regions: tuple[str, ...], country: str | None, doc: str, said: str
) -> None:
    with pytest.raises(entities.EntityError) as refused_:
        entities.read(kind, value, regions=regions, country=country, doc_type=doc or "other")
    sentence = str(refused_.value)
    assert said in sentence and sentence.endswith(".") and sentence.count(". ") <= 1


async def test_entities_are_added_normalised_and_found_in_any_written_form(any_app: App) -> None:
    app = any_app
    await ok(app, f'op new "Nightjar" --code {OP} --countries ES,PT')
    added = text(await ok(app, "subject add phone 0034 612 34 56 78"))
    assert "Added S-1 +34 612 34 56 78" in added
    await ok(app, "subject add account ES91 2100 0418 4502 0005 1332 --bic DEUTDEFF")
    await ok(app, "subject add handset 35-209900-176148-1")
    await ok(app, "subject add document 54362315K --country ES --doc-type id")
    await ok(app, "subject add advert locanto @anna")
    await ok(app, 'subject add address "Calle Mayor 3, Madrid"')
    for query in ("+34 612 34 56 78", "0034612345678", "612345678", "612 34 56 78"):
        found = text(await ok(app, f"subject find {query}"))
        assert "S-1 +34 612 34 56 78" in found and "same phone" in found, (query, found)
    found = text(await ok(app, "subject find es91 2100 0418 4502 0005 1332"))
    assert "S-2 ES91 2100 0418 4502 0005 1332" in found
    assert "S-3 352099001761481" in text(await ok(app, "subject find 35209900 176148 1"))
    assert "S-5 locanto @anna" in text(await ok(app, "subject find locanto:anna"))
    # The same value again is the same subject: refused, naming it.
    twin = await refused(app, "subject add phone 612345678")
    assert "S-1" in twin and "same phone" in twin


async def test_a_bad_value_is_one_sentence_and_writes_nothing(any_app: App) -> None:
    app = any_app
    await ok(app, f'op new "Nightjar" --code {OP} --countries ES')
    before = await rows(app, Subject)
    said = await refused(app, "subject add account ES92 2100 0418 4502 0005 1332")
    assert "check digits are wrong" in said
    said = await refused(app, "subject add document 54362315K --doc-type id")
    assert "issuing country" in said
    said = await refused(app, "subject add person Ivan --category suspect --bic DEUTDEFF")
    assert "--bic is for a account" in said or "--bic" in said
    assert await rows(app, Subject) == before


async def test_typed_links_are_recorded_with_source_and_grade_and_shown(any_app: App) -> None:
    app = any_app
    await operation(app, OP)
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await ok(app, "subject add phone +34 612 34 56 78")
    await ok(app, "subject add vehicle 1234 ABC")
    said = text(
        await ok(app, 'link S-1 S-2 --as uses-phone --source "handset seized 20 Nov" --grade B2')
    )
    assert "S-1 Ivan Petrov — uses-phone — S-2 +34 612 34 56 78" in said
    assert "handset seized 20 Nov" in said and "B2" in said
    await ok(app, 'link S-1 S-3 --as drives --source "ANPR hit"')
    # Wrong shapes and repeats: one sentence, nothing written.
    assert "S-2 is a phone" in await refused(app, 'link S-2 S-1 --as drives --source "x"')
    assert "not a kind of link" in await refused(app, 'link S-1 S-2 --as owns --source "x"')
    assert "already recorded" in await refused(app, 'link S-1 S-2 --as uses-phone --source "again"')
    assert "Admiralty" in await refused(app, 'link S-1 S-2 --as family --source "x" --grade Z9')
    assert await rows(app, SubjectRelation) == 2
    # `link <code>` still attaches an account.
    assert "Your code" in text(await ok(app, "link"))
    shown = text(await ok(app, "subject show S-1"))
    assert "uses-phone → S-2 +34 612 34 56 78 · grade B2" in shown
    assert "drives → S-3 1234 ABC" in shown
    assert "S-1 Ivan Petrov → uses-phone" in text(await ok(app, "subject show S-2"))
    links = text(await ok(app, "links S-1"))
    assert "Recorded links (reported, graded):" in links and "source: ANPR hit" in links
    assert "analytic inference" in links  # co-sightings stay inferences
    exported = await ok(app, f"export {OP}")
    data = json.loads(exported.message.attachments[0].content)
    assert {(r["from"], r["kind"], r["to"], r["grade"]) for r in data["relations"]} == {
        ("S-1", "uses-phone", "S-2", "B2"),
        ("S-1", "drives", "S-3", None),
    }
    markdown = exported.message.attachments[1].content.decode()
    assert "## Typed links (2)" in markdown
    # A partner reads neither the suspect nor its links (the disclosure rule, clause 9).
    assert "uses-phone" not in text(await app.console.push("subject show S-2", as_="pat"))
    assert "Recorded links" not in text(await app.console.push("links", as_="pat"))
    # Erasing a subject erases its typed links.
    await ok(app, 'subject erase S-1 --reason "court order"')
    assert await fetch(app, SubjectRelation) == []
