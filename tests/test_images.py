"""Product images: fetched from the simulator into files that decode, kept current, served, counted."""

from __future__ import annotations

import io
import os

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from PIL import Image

import tasks
from tds import registry
from tds.cli import cli
from tds.mappers.items import products
from tds.models import product_images
from tds.sync import images
from tds.sync import synchronizer as sync
from tds.zoho import shared as zoho_shared
from tests.helpers import signed_post, wait_for
from tests.simulated import settings_for, use
from webhook_receiver import create_app


def _image_calls(sim) -> int:
    counters = sim.simulator.counters()
    return sum(v for k, v in counters.items() if isinstance(v, int) and k.endswith("/image"))


def _picture(fmt: str = "PNG", colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def imaged(engine, database_url, redis_url, redis_client, simulator_factory, tmp_path):
    """Items of the small data set synced from the simulator; image files under tmp_path."""
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org, TDS_IMAGE_DIR=str(tmp_path / "img")))
    result = sync.full_sync(settings, registry.get("items"), org, zoho_shared.zoho_client(settings))
    return sim, org, settings, result


def _rows(engine):
    with engine.connect() as conn:
        prods = {r.zoho_item_id: r for r in conn.execute(sa.select(products))}
        state = {r.zoho_item_id: r for r in conn.execute(sa.select(product_images))}
    return prods, state


def _run_cli(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# ---------------------------------------------------------------------- bytes

@pytest.mark.parametrize("fmt,ext,kind", [("JPEG", "jpg", "image/jpeg"), ("PNG", "png", "image/png"),
                                          ("WEBP", "webp", "image/webp")])
def test_a_decodable_image_is_named_by_its_bytes_not_its_header(fmt, ext, kind):
    assert images.check_image(_picture(fmt), "application/octet-stream", 10**6) == (ext, kind)


@pytest.mark.parametrize("body,reason", [
    (b"", "empty body"),
    (b'{"code":1002,"message":"Image does not exist."}', "not a JPEG, PNG or WebP"),
    (b"<html><body>Bad Gateway</body></html>", "not a JPEG, PNG or WebP"),
    (_picture()[:40], "damaged PNG"),
    (_picture("JPEG")[:60], "damaged JPEG"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "damaged PNG"),
])
def test_a_bad_or_empty_body_is_refused_with_the_reason(body, reason):
    with pytest.raises(images.ImageRefused, match=reason):
        images.check_image(body, "image/png", 10**6)


def test_a_body_over_the_limit_is_refused():
    with pytest.raises(images.ImageRefused, match="TDS_IMAGE_MAX_BYTES=60"):
        images.check_image(_picture(), "image/png", 60)


def test_atomic_write_leaves_only_the_finished_file(tmp_path):
    images.write_atomically(tmp_path, "1.png", b"old")
    images.write_atomically(tmp_path, "1.png", b"new")
    assert os.listdir(tmp_path) == ["1.png"] and (tmp_path / "1.png").read_bytes() == b"new"


# ---------------------------------------------------------------------- the whole path

def test_full_image_sync_writes_a_decodable_file_for_every_imaged_item(imaged, engine):
    sim, org, settings, _ = imaged
    expected = {r["item_id"]: r for r in sim.simulator.store.records(org, "items")}
    with_image = {i: r for i, r in expected.items() if r["image_document_id"]}
    assert 0 < len(with_image) < len(expected)

    dry = _run_cli("images", "sync", "--dry-run")
    assert dry.exit_code == 0
    assert f"{len(with_image)} images to fetch" in dry.output and "takes at least" in dry.output
    assert _image_calls(sim) == 0 and not (images.folder(settings)).exists()

    out = _run_cli("images", "sync")
    assert out.exit_code == 0, out.output
    assert f"{len(with_image)} written" in out.output
    assert f"[{len(with_image)}/{len(with_image)}]" in out.output  # plain lines without a terminal
    assert _image_calls(sim) == len(with_image)

    prods, state = _rows(engine)
    folder = images.folder(settings)
    assert sorted(os.listdir(folder)) == sorted(state[i].file_name for i in with_image)
    for item_id, src in with_image.items():
        ext = "jpg" if src["image_type"] == "jpg" else "png"
        assert prods[item_id].image_url == f"/product-images/{item_id}.{ext}"
        with Image.open(folder / f"{item_id}.{ext}") as picture:
            picture.load()
            assert picture.format == {"jpg": "JPEG", "png": "PNG"}[ext]
        assert state[item_id].zoho_image_document_id == src["image_document_id"]
    for item_id in set(expected) - set(with_image):
        assert prods[item_id].image_url is None
    counts = images.coverage(settings, org)
    assert counts["with_image"] == len(with_image) and counts["present"] == len(with_image)
    assert counts["missing"] == counts["stale"] == 0 and counts["percent"] == 100.0

    status = _run_cli("images", "status")
    assert "100.0 % match" in status.output and f"of {len(with_image)} items with an image" in status.output


def test_unchanged_images_are_not_downloaded_again_and_changed_ones_are(imaged, engine):
    sim, org, settings, _ = imaged
    assert _run_cli("images", "sync").exit_code == 0
    _, before = _rows(engine)
    folder = images.folder(settings)
    mtimes = {name: (folder / name).stat().st_mtime_ns for name in os.listdir(folder)}
    calls = _image_calls(sim)

    again = sync.full_sync(settings, registry.get("items"), org, zoho_shared.zoho_client(settings), refetch=True)
    assert again.images == []  # every reference is the one stored
    plain = _run_cli("images", "sync")  # as typed: only what is missing here or changed in Zoho
    assert plain.exit_code == 0 and "0 images to fetch" in plain.output, plain.output
    assert "0 images to fetch" in _run_cli("images", "sync", "--missing-only").output  # the old name
    assert _image_calls(sim) == calls  # a second plain run with nothing changed: no image call

    full = _run_cli("images", "sync", "--refetch")  # fetches every image again: the sha256 decides
    assert f"{len(before)} unchanged" in full.output
    assert {name: (folder / name).stat().st_mtime_ns for name in os.listdir(folder)} == mtimes

    png = next(i for i, r in before.items() if r.file_name.endswith(".png"))
    same_id = next(i for i, r in before.items() if i != png)
    sim.simulator.replace_image(org, png, kind="jpg", send_webhook=False)
    sim.simulator.replace_image(org, same_id, keep_document_id=True, send_webhook=False)
    changed = sync.full_sync(settings, registry.get("items"), org, zoho_shared.zoho_client(settings))
    assert [job.zoho_item_id for job in changed.images] == [png]  # the reference moved for one only
    assert images.coverage(settings, org)["stale"] == 1

    calls = _image_calls(sim)
    for job in changed.images:
        assert images.download(settings, zoho_shared.zoho_client(settings), job) is images.Result.WRITTEN
    assert _image_calls(sim) == calls + 1
    prods, after = _rows(engine)
    assert after[png].file_name == f"{png}.jpg" and not (folder / f"{png}.png").exists()
    assert prods[png].image_url == f"/product-images/{png}.jpg" and after[png].sha256 != before[png].sha256
    with Image.open(folder / f"{png}.jpg") as picture:
        assert picture.format == "JPEG"

    assert "0 images to fetch" in _run_cli("images", "sync").output  # the same id: only --refetch sees it
    assert "1 written" in _run_cli("images", "sync", "--refetch").output  # the same id, new bytes
    assert _rows(engine)[1][same_id].sha256 != before[same_id].sha256


def test_an_image_removed_in_zoho_removes_the_file_and_clears_the_url(imaged, engine):
    sim, org, settings, _ = imaged
    assert _run_cli("images", "sync").exit_code == 0
    _, state = _rows(engine)
    item_id = next(iter(state))
    path = images.folder(settings) / state[item_id].file_name
    assert path.is_file()

    sim.simulator.remove_image(org, item_id, send_webhook=False)
    result = sync.full_sync(settings, registry.get("items"), org, zoho_shared.zoho_client(settings))
    assert [job.zoho_item_id for job in result.images] == [item_id] and not result.images[0].fetch
    calls = _image_calls(sim)
    assert images.download(settings, zoho_shared.zoho_client(settings), result.images[0]) is images.Result.REMOVED
    assert _image_calls(sim) == calls  # nothing to ask Zoho
    prods, state = _rows(engine)
    assert not path.exists() and prods[item_id].image_url is None and state[item_id].file_name is None
    assert images.coverage(settings, org)["orphaned"] == 0


def test_a_damaged_image_is_refused_with_the_reason_and_no_file(imaged, engine):
    sim, org, settings, _ = imaged
    item_id = next(r["item_id"] for r in sim.simulator.store.records(org, "items") if r["image_document_id"])
    sim.simulator.replace_image(org, item_id, broken=True, send_webhook=False)
    sync.full_sync(settings, registry.get("items"), org, zoho_shared.zoho_client(settings))

    out = _run_cli("images", "sync")
    assert out.exit_code == 1
    assert f"{item_id}: damaged" in out.output and "1 refused" in out.output
    prods, state = _rows(engine)
    assert state[item_id].file_name is None and "damaged" in state[item_id].error
    assert not list(images.folder(settings).glob(f"{item_id}.*")) and prods[item_id].image_url is None
    counts = images.coverage(settings, org)
    assert counts["missing"] == counts["failed"] == 1
    assert f"refused {item_id}: damaged" in _run_cli("images", "status").output


def test_images_leave_the_webhooks_share_of_the_budget(imaged, engine):
    sim, org, settings, _ = imaged
    settings = use(settings.replace(zoho_rate_limit=10, image_budget_share=0.5))
    client = zoho_shared.zoho_client(settings)
    job = images.pending(settings, org)[0]
    for _ in range(5):  # webhooks spent half the minute
        client.limiter.acquire(org)
    calls = _image_calls(sim)
    with pytest.raises(images.BudgetReserved) as info:
        images.download(settings, client, job)
    assert 0 < info.value.retry_after <= 60 and info.value.transient
    assert _image_calls(sim) == calls


# ---------------------------------------------------------------------- serving

def test_the_receiver_serves_images_with_type_etag_and_304_and_refuses_traversal(imaged, engine, tmp_path):
    sim, org, settings, _ = imaged
    assert _run_cli("images", "sync").exit_code == 0
    prods, state = _rows(engine)
    item_id, row = next(iter(state.items()))
    (tmp_path / "img" / "secret.png").write_bytes(b"outside the products folder")
    client = create_app(settings, enqueue=lambda *_: None).test_client()

    answer = client.get(prods[item_id].image_url)
    assert answer.status_code == 200 and answer.data == (images.folder(settings) / row.file_name).read_bytes()
    assert answer.headers["Content-Type"] == row.content_type
    assert answer.headers["ETag"] and "max-age=300" in answer.headers["Cache-Control"]
    again = client.get(prods[item_id].image_url, headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""

    for path in ("/product-images/../secret.png", "/product-images/%2e%2e/secret.png",
                 "/product-images/..%2Fsecret.png", "/product-images/%2Fetc%2Fpasswd", "/product-images/x.txt",
                 "/product-images/999.png"):
        assert client.get(path).status_code == 404, path


# ---------------------------------------------------------------------- through the workers

def test_an_item_webhook_gets_its_new_image_through_the_worker(worker, database_url, redis_url, simulator_factory,
                                                                  tmp_path, engine):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org, TDS_IMAGE_DIR=str(tmp_path / "img")))
    item_id = next(r["item_id"] for r in sim.simulator.store.records(org, "items") if not r["image_document_id"])
    record = sim.simulator.replace_image(org, item_id, kind="png", send_webhook=False)
    receiver = create_app(settings).test_client()

    assert signed_post(receiver, "items", {"item": record}, org=org).status_code == 202

    path = images.folder(settings) / f"{item_id}.png"
    wait_for(path.is_file, what="the image file written by the tds.images worker")
    with Image.open(path) as picture:
        picture.load()
    url = wait_for(lambda: _rows(engine)[0][item_id].image_url, what="products.image_url")
    assert url == f"/product-images/{item_id}.png"
    assert receiver.get(url).data == path.read_bytes()

    gone = sim.simulator.remove_image(org, item_id, send_webhook=False)
    assert signed_post(receiver, "items", {"item": gone}, org=org).status_code == 202
    wait_for(lambda: not path.exists(), what="the file removed by the worker")
    wait_for(lambda: _rows(engine)[0][item_id].image_url is None, what="the url cleared")


def test_the_hourly_sweep_restores_a_missing_file_through_the_worker(worker, database_url, redis_url,
                                                                      simulator_factory, tmp_path, engine):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org, TDS_IMAGE_DIR=str(tmp_path / "img")))
    sync.full_sync(settings, registry.get("items"), org, zoho_shared.zoho_client(settings))
    assert _run_cli("images", "sync").exit_code == 0
    _, state = _rows(engine)
    lost = images.folder(settings) / next(iter(state.values())).file_name
    lost.unlink()
    assert images.coverage(settings, org)["missing"] == 1

    assert tasks.app.tasks["tds.sweep_images"].apply().get() == 1  # the beat job, sending to tds.images

    wait_for(lost.is_file, what="the swept image restored by the worker")
    assert images.coverage(settings, org)["percent"] == 100.0


def test_image_tasks_have_their_own_queue_and_an_hourly_sweep():
    app = tasks.app
    assert "tds.images" in tasks.all_queues()
    assert app.amqp.router.route({}, "tds.download_image", args=("1", "2"))["queue"].name == "tds.images"
    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert schedule["tds.sweep_images"] == 3600.0  # hourly (TDS_SCHEDULE_IMAGES)
