"""Must-show: the 10,000 MNIST test images through the virtual board with the kit's real deploy package
(build/lab2/deploy or pretrained/lab2/deploy) give exactly Lab 2's model's outputs and predictions."""
from __future__ import annotations

import numpy as np
import pytest

from course_utils.board import package, runtime


@pytest.fixture(scope="module")
def real_pkg():
    try:
        return package.find_package("mnist_w4a4")
    except package.PackageError as err:
        pytest.skip(f"no Lab 2 deploy package yet (pretrained/lab2/deploy/mnist_w4a4 is written by "
                    f"scripts/pretrained_lab2.py): {str(err).splitlines()[0]}")


@pytest.fixture(scope="module")
def mnist_test(tmp_path_factory):
    from course_utils import data

    images, labels = data.load("mnist", "test", data_dir=tmp_path_factory.mktemp("data"))
    return images, labels


def test_full_test_set_equals_lab2_model(real_pkg, mnist_test):
    from pynq import Overlay

    from course_utils.board.accel import AcceleratorModel

    images, labels = mnist_test
    x = real_pkg.input.from_images(images)      # the 20x20 centre crops the package's input stream takes
    assert x.shape == (10_000, 400)
    ol = Overlay(str(real_pkg.bitfile))
    y_board = runtime.infer(ol, real_pkg, x, batch=1000, progress=False)
    y_model = AcceleratorModel.from_package(real_pkg.path).run(x)
    assert np.array_equal(y_board, y_model)
    g = real_pkg.golden()                       # computed by FINN's execute_onnx when the package was written
    ol2 = Overlay(str(real_pkg.bitfile))
    y_golden = runtime.infer(ol2, real_pkg, g["x"], progress=False)
    np.testing.assert_array_equal(y_golden, g["y_int"])
    if "pred" in g:
        np.testing.assert_array_equal(np.argmax(y_golden, axis=1), g["pred"])
    assert np.mean(np.argmax(y_board, axis=1) == labels) > 0.95


def test_the_whole_set_in_one_transfer_is_within_the_kit_dma_limit(real_pkg, mnist_test):
    from pynq import Overlay

    x = real_pkg.input.from_images(mnist_test[0])
    ol = Overlay(str(real_pkg.bitfile))
    dma = getattr(ol, real_pkg.dma_name)
    assert runtime.max_batch(dma, real_pkg) >= len(x)   # 26-bit length register: 167,772 images
    with runtime.Stopwatch(ol) as sw:
        y = runtime.infer(ol, real_pkg, x, batch=len(x), progress=False)
    assert sw.timing.samples == len(x) and sw.timing.modelled_s is not None
    # modelled from the accelerator's cycle counts at FCLK0: for a large batch it approaches FINN's estimate
    assert sw.timing.fps == pytest.approx(real_pkg.estimates["fps"], rel=0.01)
    assert y.shape == (len(x), 10)
