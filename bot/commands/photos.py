"""`photo`: a photo sent with a caption becomes evidence of a sighting (issue 16).

The caption is `SG-n` (attach to that sighting; an adapter writes it when the photo answers
a sighting's post) or a sighting's own arguments (`S-1 at "Huelva marina" --grade B2`: the
sighting is recorded by the `sighting` handler, then the photo attached). The original is
kept as sent, identified by its SHA-256 (`bot.core.evidence`); the channels get a copy without
EXIF, only where the sighting's TLP and its subject's protection allow (`post_item`).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import structlog
from sqlmodel import select

from bot.base.i18n import N_, _
from bot.base.messages import Message
from bot.commands.context import CommandContext, Core
from bot.commands.disclose import post_item
from bot.commands.errors import CommandError, UsageError
from bot.commands.fieldpins import recorded_sighting
from bot.commands.grading import SALUTE
from bot.commands.intel import find_sighting, sighting_tlp
from bot.commands.refs import looks_like_ref, parse_ref
from bot.commands.registry import Arg, Flag, OpMode, ParsedArgs, command
from bot.commands.render import context_line, sighting_ref, sighting_what
from bot.commands.sightings import sighting_add
from bot.contracts import Invocation, Reply
from bot.core import evidence, protection
from bot.core.access import TLP, Perm
from bot.store.audit import Action
from bot.store.models import Evidence, Sighting, Subject

log = structlog.get_logger(__name__)

SIGHTING_FLAGS = ("coords", "when", "grade", "tlp", "note", "observer", "to", *SALUTE)


def _is_sighting_ref(words: list[str]) -> bool:
    if len(words) != 1 or not looks_like_ref(words[0]):
        return False
    try:
        return parse_ref(words[0]).prefix == "SG"
    except UsageError:
        return False


async def _new_sighting(
    ctx: CommandContext, words: list[str], first: evidence.Photo
) -> tuple[Reply, list[str]]:
    """Record the sighting the caption describes; the photo's GPS is the place if none."""
    values = {k: v for k, v in ctx.args.values.items() if k in SIGHTING_FLAGS}
    notes: list[str] = []
    if not any(w.lower() == "at" for w in words[1:]):
        if first.exif_lat is None or first.exif_lon is None:
            raise UsageError(
                _(
                    'Say where in the caption, like S-1 at "Huelva marina"; this photo '
                    "carries no location of its own."
                )
            )
        coords = f"{first.exif_lat},{first.exif_lon}"
        words = [*words, "at", f"{first.exif_lat:.5f},{first.exif_lon:.5f}"]
        values.setdefault("coords", coords)
        notes.append(_("The place is the photo's own location (EXIF GPS)."))
    values["what"] = words
    ctx.args = ParsedArgs(values=values)
    return await sighting_add(ctx), notes


def _offer(photo: evidence.Photo) -> str | None:
    """What the photo says of itself, offered to the member (never applied silently)."""
    parts = []
    if photo.exif_time:
        parts.append(_("taken {time} (camera clock)").format(time=photo.exif_time))
    if photo.exif_lat is not None and photo.exif_lon is not None:
        parts.append(
            _("at {lat},{lon}").format(lat=f"{photo.exif_lat:.5f}", lon=f"{photo.exif_lon:.5f}")
        )
    if not parts:
        return None
    return _(
        "The photo says it was {facts}; if that is when and where, give --when or --coords."
    ).format(facts=", ".join(parts))


async def _attach(
    ctx: CommandContext, sighting: Sighting, photo: evidence.Photo, filename: str
) -> Evidence | None:
    """Store the photo once and record it against the sighting (None: already there)."""
    known = (
        await ctx.session.exec(
            select(Evidence.id).where(
                Evidence.sighting_id == sighting.id, Evidence.sha256 == photo.sha256
            )
        )
    ).first()
    if known is not None:
        return None
    files = evidence.file_store(ctx.settings.data_dir)
    stored = await asyncio.to_thread(files.put, photo.original, photo.extension)
    clean = await asyncio.to_thread(files.put, photo.clean, photo.onward_extension)
    row = Evidence(
        operation_id=sighting.operation_id,
        sighting_id=sighting.id or 0,
        sha256=photo.sha256,
        filename=(filename or f"photo.{photo.extension}")[:200],
        mime_type=photo.mime_type,
        size=photo.size,
        width=photo.width,
        height=photo.height,
        stored_key=stored,
        clean_key=clean,
        exif_time=photo.exif_time,
        exif_lat=photo.exif_lat,
        exif_lon=photo.exif_lon,
        added_by=ctx.member().id,
        added_at=ctx.now,
    )
    ctx.session.add(row)
    return row


async def _post_onward(
    ctx: CommandContext, sighting: Sighting, subject: Subject | None, row: Evidence
) -> list[str]:
    """The copy without EXIF, to the channels the sighting's label and subject allow."""
    op = ctx.operation()
    ref = sighting_ref(sighting)
    label = sighting_tlp(sighting, subject)
    shown = protection.disclosure_label(label, subject, now=ctx.now)
    message = Message(
        title=_("Photo for sighting {ref} — {what}").format(
            ref=ref, what=sighting_what(sighting, subject)
        ),
        lines=[f"SHA-256 {row.sha256}"],  # i18n: keep
        context=context_line(op, ref, label),
        tlp=shown.value,
        images=[row.clean_key],
    )
    readers: set[int] = set()
    if label is TLP.RED:
        readers = await protection.recipients_of(ctx.session, "sighting", sighting.id)
        if sighting.reporter_id:
            readers.add(sighting.reporter_id)
    return await post_item(
        ctx,
        message,
        tlp=label,
        kind="photo",
        object_ref=ref,
        subject=subject,
        neutral=protection.neutral_sighting(op, sighting, None)
        if protection.is_protected(subject, ctx.now)
        else None,
        red_readers=readers,
    )


Checked = list[tuple[evidence.Photo, str]]  # each photo, with the name it was sent under


async def check_uploads(core: Core, inv: Invocation) -> Checked:
    """Fetch and check the photos, before the command's transaction (`Command.prepare`).

    The dispatch runs this only once the sender is admitted, so nothing is downloaded for
    a sender who may not post here. A file the platform says is over the limit is not
    fetched at all. Decoding and hashing run in a worker thread, one photo at a time, with
    no transaction open: the store's writer is never held while a photo is read."""
    if not inv.uploads:
        raise UsageError(_("Send a photo with this as its caption; there is no photo here."))
    limit = core.settings.photo_max_bytes
    checked: Checked = []
    for upload in inv.uploads:
        if upload.content is None and upload.fetch is not None and upload.size <= limit:
            try:
                upload = replace(upload, content=await upload.fetch())
            except Exception as exc:  # the platform's download failed: say so, keep nothing
                log.warning("photo.fetch_failed", error=type(exc).__name__)
                raise CommandError(
                    _("I could not fetch that photo; please send it again. Nothing was stored.")
                ) from None
        try:
            photo = await asyncio.to_thread(evidence.check, upload, limit)
        except evidence.EvidenceError as exc:
            raise CommandError(str(exc)) from None  # the file, not the grammar: no usage line
        checked.append((photo, upload.filename))
    return checked


@command(
    "photo",
    "photo <SG-n | S-n at <place> [--grade B2] …>",
    N_("Attach the photo sent with this caption to a sighting (a new one, or SG-n)."),
    args=(Arg("caption", rest=True, ref=True),),
    flags=tuple(Flag(name, kind="time" if name == "when" else "str") for name in SIGHTING_FLAGS),
    op=OpMode.REQUIRED,
    perm=Perm.POST_SIGHTING,
    writes=True,
    action=Action.COLLECT,
    details=N_(
        'Send a photo (or an image file) with the caption `S-1 at "Huelva marina"` to record '
        "a sighting with it, or `SG-4` (or as a reply to the sighting's post) to add it to one. "
        "The original is kept as sent and its SHA-256 shown; the channels get a copy without "
        "EXIF (camera, time, position), only where the sighting's TLP allows. JPEG, PNG or "
        "WebP, up to TASKFORCE_PHOTO_MAX_BYTES (10 MB)."
    ),
    prepare=check_uploads,
)
async def photo(ctx: CommandContext) -> Reply:
    """Record and attach the photos `check_uploads` read before the transaction (nothing
    stored on refusal)."""
    checked: Checked = ctx.prepared  # type: ignore[assignment]
    words = [str(w) for w in ctx.args["caption"]]
    if _is_sighting_ref(words):
        if any(ctx.args.get(f) for f in SIGHTING_FLAGS):
            raise UsageError(_("A photo for {ref} takes no flags.").format(ref=words[0]))
        sighting, subject = await find_sighting(ctx, words[0])
        reply = Reply(Message(title=_("Photo added to {ref}").format(ref=sighting_ref(sighting))))
        notes: list[str] = []
    else:
        reply, notes = await _new_sighting(ctx, words, checked[0][0])
        sighting, subject = await recorded_sighting(ctx)
    lines: list[str] = []
    for found, filename in checked:
        row = await _attach(ctx, sighting, found, filename)
        if row is None:
            lines.append(
                _("This photo is already attached (SHA-256 {sha}).").format(sha=found.sha256)
            )
            continue
        await ctx.session.flush()
        lines.append(_("Photo kept: SHA-256 {sha}").format(sha=found.sha256))
        offer = _offer(found)
        if offer:
            lines.append(offer)
        lines += await _post_onward(ctx, sighting, subject, row)
    ctx.audit(Action.COLLECT, object_ref=f"{ctx.operation().code}/{sighting_ref(sighting)}")
    reply.message.lines += notes + lines
    return reply
