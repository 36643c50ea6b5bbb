"""Drawing tumour cores, edema and cavities (spinetumor.demo.lesion_sampling)."""

from __future__ import annotations

import numpy as np

from spinetumor import LABELS
from spinetumor.demo.lesion_sampling import draw_lesions, random_waves, unit_vector
from spinetumor.demo.params import PATHOLOGIES
from spinetumor.demo.sampling import subject_parameters
from tests.demo.demo_fixtures import SEED


def test_lesions_come_tumours_first_and_only_as_asked():
    p = subject_parameters(1, SEED)
    grid, fov_si = p.t2w.grid, p.t2w.grid.fov_mm[2]
    for draw in range(30):
        pathology = PATHOLOGIES[draw % 3]
        has_edema, has_cavity = draw % 2 == 0, draw % 5 < 3
        rng = np.random.default_rng([SEED, draw])
        lesions = draw_lesions(rng, pathology, p.anatomy, grid, has_edema, has_cavity)
        labels = [les.label for les in lesions]
        n_tumours = labels.count(LABELS["tumor"])
        assert n_tumours >= 1 and labels[:n_tumours] == [LABELS["tumor"]] * n_tumours
        assert (LABELS["edema"] in labels) == has_edema
        assert (LABELS["cavity"] in labels) == has_cavity
        assert labels[n_tumours:] == sorted(labels[n_tumours:])  # edema before cavities
        main = lesions[0]
        assert abs(main.center_uns_mm[2]) <= 0.25 * fov_si
        tumours = lesions[:n_tumours]
        for i, a in enumerate(tumours):  # further tumours never overlap along the cord
            for b in tumours[i + 1 :]:
                gap = abs(a.center_uns_mm[2] - b.center_uns_mm[2])
                assert gap > a.radii_uns_mm[2] + b.radii_uns_mm[2] + 5.0
        if pathology == "hemangioblastoma":  # a dorsal nodule
            assert all(t.center_uns_mm[1] < 0 for t in tumours)
        if pathology == "ependymoma":  # central canal
            assert main.center_uns_mm[:2] == (0.0, 0.0)


def test_random_waves_have_the_asked_wavenumbers():
    rng = np.random.default_rng(0)
    assert np.isclose(np.linalg.norm(unit_vector(rng)), 1.0)
    waves = random_waves(rng, 20, 1.5, 4.0)
    assert len(waves) == 20
    k = np.linalg.norm(np.asarray(waves)[:, :3], axis=1)
    assert np.all((k >= 1.5) & (k <= 4.0))
    phases = np.asarray(waves)[:, 3]
    assert np.all((phases >= 0) & (phases < 2 * np.pi))
