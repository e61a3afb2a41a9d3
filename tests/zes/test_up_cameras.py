"""The simulated cameras' evidence: a Dutch-style plate on a synthetic vehicle front, stamped
with site, camera and time, published as the edge's evidence records."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.passage_evidence import PLATE_CROP_PAD, passage_images
from edge.recognition import Box, Image, OnnxPlateReader, crop
from enforcement.model import Vehicle
from enforcement.records import (
    decode_envelope,
    decode_evidence,
    encode_envelope,
    encode_evidence,
)
from zes.up.cameras import SimulatedCameras
from zes.up.fixtures import DemoFleet
from zes.up.vehicle_images import (
    EU_BLUE,
    HEIGHT,
    PLATE_YELLOW,
    REGISTERED_COLOURS,
    WIDTH,
    VehicleLook,
    look_of,
    render_passage,
    stamp_lines,
)

AT = datetime(2026, 12, 1, 9, 30, 15, tzinfo=UTC)
PLATES = ("V221FX", "12ABC3", "GBB123", "99XKN4", "TNR12X", "52BLF8", "XL123G", "4TFD22")


def near(image: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> float:
    """The fraction of pixels within `tolerance` of `colour` (BGR) in every channel."""
    close = np.all(np.abs(image.astype(int) - np.array(colour)) <= tolerance, axis=-1)
    return float(close.mean())


def jpeg_image(data: bytes) -> Image:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def render(
    plate: str, seed: int = 1, at: datetime = AT, camera_id: str = "sim-2"
) -> tuple[Image, Box]:
    return render_passage(
        plate, site_id="up-sim", camera_id=camera_id, at=at, rng=random.Random(seed)
    )


def test_the_plate_is_a_yellow_plate_with_the_eu_band_inside_the_frame() -> None:
    image, box = render("V221FX")
    assert image.shape == (HEIGHT, WIDTH, 3)
    assert 0 <= box.x1 < box.x2 <= WIDTH and 0 <= box.y1 < box.y2 <= HEIGHT
    assert 4.0 < box.width / box.height < 5.2  # 520 x 110 mm
    plate = image[box.y1 : box.y2, box.x1 : box.x2]
    assert near(plate, PLATE_YELLOW) > 0.5  # yellow, with black characters on it
    assert near(plate[:, : box.width // 12], EU_BLUE) > 0.5
    assert near(image, PLATE_YELLOW) < 0.1  # nowhere else


def test_the_corner_is_stamped_with_site_camera_and_time() -> None:
    image, _ = render("V221FX")
    later, _ = render("V221FX", at=AT.replace(second=16))
    other_camera, _ = render("V221FX", camera_id="sim-1")
    corner = (slice(0, 44), slice(0, 250))
    assert near(image[corner], (245, 245, 245), 60) > 0.02  # white text on a dark box
    assert not np.array_equal(image[corner], later[corner])
    assert not np.array_equal(image[corner], other_camera[corner])
    # Outside the corner the three frames are the same: the stamp is all that differs.
    assert np.array_equal(image[60:], later[60:]) and np.array_equal(image[60:], other_camera[60:])


@pytest.mark.shared
def test_the_edges_own_ocr_reads_the_drawn_plates(shared_dir: Path) -> None:
    models = shared_dir / "models"
    reader = OnnxPlateReader(
        models / "cct_xs_v2_global.onnx", models / "cct_xs_v2_global_plate_config.yaml"
    )
    rng = random.Random(3)
    crops = []
    for plate in PLATES:
        image, box = render_passage(plate, site_id="up-sim", camera_id="sim-1", at=AT, rng=rng)
        crops.append(crop(image, box, pad=PLATE_CROP_PAD))
    assert [read.text for read in reader.read(crops)] == list(PLATES)


def test_a_passage_carries_both_images_as_the_edge_publishes_them() -> None:
    cameras = SimulatedCameras("127.0.0.1:9", "utrecht", ["V221FX", "12ABC3"], 20.0, seed=5)
    passage, evidence = cameras.passage(AT)

    assert [ref.kind for ref in passage.evidence] == ["plate_crop", "overview"]
    assert [e.kind for e in evidence] == ["plate_crop", "overview"]
    for ref, item in zip(passage.evidence, evidence, strict=True):
        assert item.passage_id == passage.passage_id and item.captured_at == passage.seen_at
        assert (ref.sha256, ref.size) == (item.sha256, len(item.data))
        assert decode_evidence(encode_evidence(item)) == item  # the sha256 is checked there
    crop_jpeg, overview_jpeg = (jpeg_image(e.data) for e in evidence)
    assert overview_jpeg.shape == (HEIGHT, WIDTH, 3)
    assert near(crop_jpeg, PLATE_YELLOW) > 0.25  # the plate, with a margin of the car
    assert crop_jpeg.shape[1] < WIDTH // 2 and crop_jpeg.shape[0] < HEIGHT // 5
    body = encode_envelope([passage], site_id="up-sim", camera_id=passage.camera_id)
    decoded = decode_envelope(body)
    assert not decoded.errors and decoded.passages[0].evidence == passage.evidence


def test_same_plate_same_picture_other_plate_other_crop() -> None:
    one = passage_images(*render("V221FX", seed=1))
    again = passage_images(*render("V221FX", seed=1))
    other = passage_images(*render("12ABC3", seed=1))
    assert one == again  # deterministic for a seed: a reviewer sees what was sent
    assert one[0][1] != other[0][1]


# -- the register's description drawn (issue 21) ---------------------------------------------
def test_a_vehicle_looks_as_its_kind_and_registered_colour() -> None:
    van = Vehicle("VBB12B", "Bedrijfsauto", 2800, eu_category="N1", colour="WIT")
    truck = Vehicle("BX12CD", "Bedrijfsauto", 18000, eu_category="N3", colour="ROOD")
    assert look_of(van) == VehicleLook("WIT", "van")
    assert look_of(truck) == VehicleLook("ROOD", "truck")
    assert look_of(Vehicle("AB12CD", "Personenauto")) == VehicleLook(None, "car")
    assert look_of(Vehicle("MZ12CD", "Motorfiets", colour="ZWART")).shape == "two_wheeler"
    assert look_of(Vehicle("WT12CD", "Oplegger")).shape == "trailer"
    assert look_of(Vehicle("BS12CD", "Bus")).shape == "bus"


def _rendered(look: VehicleLook) -> Image:
    image, _ = render_passage(
        "V221FX", site_id="up-sim", camera_id="sim-1", at=AT, rng=random.Random(1), look=look
    )
    return image


@pytest.mark.parametrize("shape", ["car", "van", "truck", "bus", "two_wheeler", "trailer"])
def test_each_shape_is_drawn_in_the_registered_colour(shape: str) -> None:
    red = _rendered(VehicleLook("ROOD", shape))  # type: ignore[arg-type]
    white = _rendered(VehicleLook("WIT", shape))  # type: ignore[arg-type]
    share = 0.03 if shape == "two_wheeler" else 0.12
    assert near(red, REGISTERED_COLOURS["ROOD"], 30) > share
    assert near(white, REGISTERED_COLOURS["ROOD"], 30) < 0.005
    assert near(white, REGISTERED_COLOURS["WIT"], 12) > share


def test_a_truck_is_taller_than_a_van_and_a_van_than_a_car() -> None:
    """Where the body starts, in the vehicle's column: the kinds are told apart at a glance."""

    def top(shape: str) -> int:
        image = _rendered(VehicleLook("ROOD", shape))  # type: ignore[arg-type]
        rows = near_mask(image, REGISTERED_COLOURS["ROOD"])[:, 250:].any(axis=1)  # not the stamp
        return int(np.argmax(rows))

    assert top("truck") < top("van") < top("car")


def near_mask(image: np.ndarray, colour: tuple[int, int, int], tolerance: int = 30) -> np.ndarray:
    mask: np.ndarray = np.all(np.abs(image.astype(int) - np.array(colour)) <= tolerance, axis=-1)
    return mask


def test_the_demo_cameras_draw_each_plate_as_the_register_describes_it() -> None:
    fleet = DemoFleet()
    fleet.append("V221FX")
    fleet.looks["V221FX"] = VehicleLook("ROOD", "van")
    cameras = SimulatedCameras("127.0.0.1:9", "utrecht", fleet, 20.0, seed=5)
    _, evidence = next(
        (p, e) for p, e in (cameras.passage(AT) for _ in range(50)) if p.plate == "V221FX"
    )
    overview = jpeg_image(next(e.data for e in evidence if e.kind == "overview"))
    assert near(overview, REGISTERED_COLOURS["ROOD"], 40) > 0.12


def test_the_stamp_is_dutch_local_time_with_its_zone() -> None:
    """The case page shows local time; a UTC stamp (07:01 beside the page's 08:01) made
    officers doubt the evidence (issue 26)."""
    winter = datetime(2026, 12, 6, 7, 1, 2, tzinfo=UTC)
    summer = datetime(2026, 7, 6, 7, 1, 2, tzinfo=UTC)
    assert stamp_lines("up-sim", "sim-1", winter) == ("up-sim / sim-1", "2026-12-06 08:01:02 CET")
    assert stamp_lines("up-sim", "sim-1", summer)[1] == "2026-07-06 09:01:02 CEST"
