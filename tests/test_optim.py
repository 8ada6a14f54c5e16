"""Optimizers and schedulers: trajectories against PyTorch 2.13 literals, param groups, state_dict round trips."""
import math

import numpy as np
import pytest

import distgrad as dg
from distgrad import optim
from distgrad.nn import Parameter
from distgrad.optim import lr_scheduler as S

W0 = [[0.5, -0.3, 0.8], [0.2, 0.1, -0.6]]
B0 = [0.05, -0.1]
X = [[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-0.3, 0.7, 0.1], [1.2, 0.4, -0.8]]
Y = [[0.3, -1.0], [1.0, 0.5], [-0.2, 0.2], [0.6, -0.4]]

# (optimizer, options, w after 6 steps, b after 6 steps), computed with PyTorch 2.13 on the same problem
TRAJECTORIES = [
    ('SGD', {'lr': 0.1}, [0.5964601, 0.0273276, 0.4598104, 0.003897, -0.3727828, -0.1014711], [0.0639821, -0.1097534]),
    ('SGD', {'lr': 0.1, 'momentum': 0.9},
     [0.6814015, 0.2906981, 0.1240704, -0.2199234, -0.7427593, 0.3885328], [0.0218165, -0.0204754]),
    ('SGD', {'lr': 0.05, 'momentum': 0.9, 'nesterov': True, 'weight_decay': 0.1},
     [0.5986544, 0.2042032, 0.2103086, -0.1300868, -0.6106411, 0.2243079], [0.0619127, -0.0824553]),
    ('SGD', {'lr': 0.05, 'momentum': 0.5, 'dampening': 0.3, 'maximize': True},
     [0.3205436, -0.9304732, 1.3846213, 0.5061993, 1.0225164, -1.4591136], [-0.0396539, 0.0309741]),
    ('Adam', {'lr': 0.1},
     [0.8047451, 0.174022, 0.2931415, -0.2972373, -0.4405711, -0.0421518], [-0.0591298, -0.0877217]),
    ('Adam', {'lr': 0.1, 'weight_decay': 0.1, 'amsgrad': True},
     [0.699399, 0.1777607, 0.284264, -0.2962272, -0.4385453, -0.0420024], [-0.0717739, -0.0556663]),
    ('AdamW', {'lr': 0.1},
     [0.8013712, 0.1736334, 0.2905189, -0.296966, -0.4395403, -0.0402109], [-0.0590154, -0.0867152]),
    ('AdamW', {'lr': 0.1, 'amsgrad': True, 'betas': (0.8, 0.9)},
     [0.7732615, 0.1462304, 0.3167349, -0.2744466, -0.4222034, -0.0527613], [-0.0874137, -0.0481277]),
    ('Adagrad', {'lr': 0.1},
     [0.713935, -0.0311408, 0.5186037, -0.0849953, -0.2009006, -0.2892534], [-0.0012325, -0.081246]),
    ('Adagrad', {'lr': 0.1, 'lr_decay': 0.01, 'weight_decay': 0.1, 'initial_accumulator_value': 0.1},
     [0.6324995, -0.0368242, 0.5209614, -0.0612007, -0.1931485, -0.296128], [0.0515324, -0.1037843]),
    ('RMSprop', {'lr': 0.01},
     [0.7148498, -0.029955, 0.5173711, -0.0865357, -0.2023923, -0.2877368], [-0.0025311, -0.0795378]),
    ('RMSprop', {'lr': 0.01, 'centered': True, 'momentum': 0.9, 'weight_decay': 0.1},
     [0.6242051, 0.3056754, 0.077287, -0.4480246, -0.6875067, 0.2805756], [-0.2448161, 0.1449101]),
]


def _run(name, kw, device, steps=6):
    w = Parameter(dg.tensor(W0, device=device))
    b = Parameter(dg.tensor(B0, device=device))
    opt = getattr(optim, name)([w, b], **kw)
    x, y = dg.tensor(X, device=device), dg.tensor(Y, device=device)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((x @ w.t() + b - y) ** 2).mean()
        loss.backward()
        opt.step()
    return w, b, opt


@pytest.mark.parametrize("name, kw, w_ref, b_ref", TRAJECTORIES,
                         ids=[f"{n}-{'-'.join(map(str, k))}" for n, k, _, _ in TRAJECTORIES])
def test_trajectory_matches_pytorch(name, kw, w_ref, b_ref, device):
    w, b, _ = _run(name, kw, device)
    np.testing.assert_allclose(w.detach().cpu().numpy().ravel(), w_ref, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(b.detach().cpu().numpy(), b_ref, rtol=2e-5, atol=2e-6)


def test_state_dict_layout_and_resume_gives_same_trajectory(device):
    w, b, opt = _run("Adam", {"lr": 0.1}, device, steps=3)
    sd = opt.state_dict()
    assert list(sd) == ["state", "param_groups"]
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
    assert sd["state"][0]["step"].item() == 3.0
    assert sd["param_groups"][0]["params"] == [0, 1]
    assert sd["param_groups"][0]["betas"] == (0.9, 0.999)
    w2, b2 = Parameter(w.detach().clone()), Parameter(b.detach().clone())
    opt2 = optim.Adam([w2, b2], lr=0.5)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.1
    x, y = dg.tensor(X, device=device), dg.tensor(Y, device=device)
    for params, o in (((w, b), opt), ((w2, b2), opt2)):
        for _ in range(3):
            o.zero_grad()
            ((x @ params[0].t() + params[1] - y) ** 2).mean().backward()
            o.step()
    np.testing.assert_allclose(w2.detach().cpu().numpy(), w.detach().cpu().numpy(), rtol=1e-6)


def _state_devices(opt, key=None):
    """The devices of the state tensors named key, or of all but 'step' when key is None."""
    return {str(v.device) for s in opt.state.values() for k, v in s.items() if (k == key if key else k != "step")}


@pytest.mark.parametrize("name, kw", [("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.9,
                                                 "weight_decay": 0.1}), ("Adagrad", {"lr": 0.1})])
def test_state_lives_on_the_parameter_device_and_resumes_from_a_cpu_checkpoint(name, kw, device, tmp_path):
    w, b, opt = _run(name, kw, device, steps=3)
    assert _state_devices(opt) == {str(w.device)} and _state_devices(opt, "step") == {"cpu"}    # as PyTorch
    dg.save({"w": w.detach(), "b": b.detach(), "opt": opt.state_dict()}, tmp_path / "ck.pt")
    ck = dg.load(tmp_path / "ck.pt", map_location="cpu")
    assert {str(v.device) for s in ck["opt"]["state"].values() for v in s.values()} == {"cpu"}
    w2, b2 = Parameter(ck["w"].to(device)), Parameter(ck["b"].to(device))
    opt2 = getattr(optim, name)([w2, b2], **kw)
    opt2.load_state_dict(ck["opt"])
    assert _state_devices(opt2) == {str(w.device)} and _state_devices(opt2, "step") == {"cpu"}
    x, y = dg.tensor(X, device=device), dg.tensor(Y, device=device)
    for _ in range(3):
        opt2.zero_grad()
        ((x @ w2.t() + b2 - y) ** 2).mean().backward()
        opt2.step()
    w_ref = next(r[2] for r in TRAJECTORIES if r[:2] == (name, kw))    # 6 uninterrupted steps in PyTorch
    np.testing.assert_allclose(w2.detach().cpu().numpy().ravel(), w_ref, rtol=2e-5, atol=2e-6)


FUSED_STEPS = [  # optimizer, options, fused kernels per parameter in a step after the first, host step counter
    ("SGD", {"lr": 0.1}, 1, False),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}, 2, False),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "dampening": 0.3, "weight_decay": 0.1}, 2, False),
    ("Adam", {"lr": 0.1, "weight_decay": 0.1, "amsgrad": True}, 4, True),
    ("AdamW", {"lr": 0.1}, 3, True),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1}, 2, True),
    ("RMSprop", {"lr": 0.01, "weight_decay": 0.1}, 2, True),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.9, "weight_decay": 0.1}, 4, True),
]


@pytest.mark.parametrize("name, kw, kernels, counter", FUSED_STEPS,
                         ids=[f"{r[0]}-{'-'.join(r[1])}" for r in FUSED_STEPS])
def test_step_is_a_few_fused_kernels_per_parameter(name, kw, kernels, counter, device, count_primitives):
    _, _, opt = _run(name, kw, device, steps=1)
    launched = count_primitives()   # on device and on cpu, which holds the step counters
    opt.step()
    # besides the fused updates, the step counter (a host tensor, as PyTorch's) takes one add per parameter
    assert sorted(launched) == sorted(["fused"] * 2 * kernels + ["binary"] * 2 * counter)


def test_load_state_dict_rejects_other_group_layout():
    _, _, opt = _run("SGD", {"lr": 0.1, "momentum": 0.9}, "cpu", steps=1)
    other = optim.SGD([Parameter(dg.zeros(2))], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        other.load_state_dict(opt.state_dict())


def test_param_groups_take_defaults_and_own_options():
    a, b = Parameter(dg.ones(2)), Parameter(dg.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.9
    a.grad, b.grad = dg.ones(2), dg.ones(2)
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), [0.9, 0.9])
    np.testing.assert_allclose(b.detach().numpy(), [0.5, 0.5])
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [a]})
    c = Parameter(dg.ones(1))
    opt.add_param_group({"params": [c], "momentum": 0.0})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.0


def test_errors_match_pytorch():
    p = [Parameter(dg.ones(1))]
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        optim.SGD(p, lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero dampening"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.0"):
        optim.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([p[0] * 2], lr=0.1)


def test_zero_grad_and_closure():
    p = Parameter(dg.tensor([2.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss
    assert opt.step(closure).item() == 4.0
    assert p.item() == 1.0
    opt.zero_grad(set_to_none=False)
    assert p.grad.item() == 0.0
    opt.zero_grad()
    assert p.grad is None


def test_repr_lists_group_options_sorted():
    opt = optim.SGD([Parameter(dg.ones(1))], lr=0.1)
    assert repr(opt) == ("SGD (\nParameter Group 0\n    dampening: 0\n    differentiable: False\n    foreach: None\n"
                         "    fused: None\n    lr: 0.1\n    maximize: False\n    momentum: 0\n    nesterov: False\n"
                         "    weight_decay: 0\n)")


# (scheduler, lrs after each of 12 steps, momentum or betas at the end), from PyTorch 2.13 with
# SGD(lr=0.1, momentum=0.9)
SCHEDULES = {
    "lambda": ([
        0.09, 0.081, 0.0729, 0.06561, 0.059049, 0.0531441, 0.04782969, 0.043046721, 0.038742049, 0.034867844,
        0.03138106, 0.028242954
    ], 0.9),
    "step": ([0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.0125, 0.00625], 0.9),
    "multistep": ([0.1, 0.05, 0.05, 0.05, 0.0125, 0.0125, 0.0125, 0.0125, 0.00625, 0.00625, 0.00625, 0.00625], 0.9),
    "exponential": ([
        0.08, 0.064, 0.0512, 0.04096, 0.032768, 0.0262144, 0.02097152, 0.016777216, 0.013421773, 0.010737418,
        0.008589935, 0.006871948
    ], 0.9),
    "cosine": ([
        0.091405765, 0.068905765, 0.041094235, 0.018594235, 0.01, 0.018594235, 0.041094235, 0.068905765, 0.091405765,
        0.1, 0.091405765, 0.068905765
    ], 0.9),
    "linear": ([0.04375, 0.0625, 0.08125, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], 0.9),
    "onecycle": ([
        0.349789654, 0.879285159, 0.994415435, 0.93301297, 0.811745654, 0.647378998, 0.462637103, 0.283060998,
        0.13347753, 0.034566987, 4e-06, 0.034566987
    ], 0.9465436874322102),
    "onecycle3": ([
        0.409230769, 0.778461538, 0.852307692, 0.483076923, 0.113846154, 0.03448331, 0.027587448, 0.020691586,
        0.013795724, 0.006899862, 4e-06, -0.006891862
    ], 0.95),
    "sequential": ([0.04, 0.07, 0.1, 0.1, 0.09330127, 0.075, 0.05, 0.025, 0.00669873, 0.0, 0.00669873, 0.025], 0.9),
    "onecycle_adam": ([
        0.349789654, 0.879285159, 0.994415435, 0.93301297, 0.811745654, 0.647378998, 0.462637103, 0.283060998,
        0.13347753, 0.034566987, 4e-06, 0.034566987
    ], (0.9465436874322102, 0.999)),
    "plateau": ([0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025], 0.9),
}
MAKERS = {
    "lambda": lambda o: S.LambdaLR(o, lambda e: 0.9 ** e),
    "step": lambda o: S.StepLR(o, 3, gamma=0.5),
    "multistep": lambda o: S.MultiStepLR(o, [2, 5, 5, 9], gamma=0.5),
    "exponential": lambda o: S.ExponentialLR(o, 0.8),
    "cosine": lambda o: S.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
    "linear": lambda o: S.LinearLR(o, start_factor=0.25, total_iters=4),
    "onecycle": lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=12),
    "onecycle3": lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=12, three_phase=True, anneal_strategy="linear"),
    "sequential": lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.1, total_iters=3), S.CosineAnnealingLR(o, 6)],
                                           milestones=[4]),
    "onecycle_adam": lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=12),
    "plateau": lambda o: S.ReduceLROnPlateau(o, patience=2, cooldown=1, factor=0.5),
}
METRICS = [1.0, 0.9, 0.95, 0.94, 0.96, 0.97, 0.98, 0.5, 0.6, 0.6, 0.6, 0.6]


@pytest.mark.parametrize("key", list(SCHEDULES))
def test_schedule_matches_pytorch(key):
    p = Parameter(dg.zeros(1))
    opt = optim.Adam([p], lr=0.1) if key.endswith("adam") else optim.SGD([p], lr=0.1, momentum=0.9)
    sched = MAKERS[key](opt)
    lrs = []
    for m in METRICS:
        opt.step()
        sched.step(m) if key == "plateau" else sched.step()
        lrs.append(sched.get_last_lr()[0])
    ref, momentum = SCHEDULES[key]
    np.testing.assert_allclose(lrs, ref, rtol=1e-7, atol=1e-9)
    group = opt.param_groups[0]
    assert group.get("betas", group.get("momentum")) == pytest.approx(momentum)


def test_scheduler_state_dict_round_trip():
    opt = optim.SGD([Parameter(dg.zeros(1))], lr=0.1)
    sched = S.StepLR(opt, 2, gamma=0.5)
    for _ in range(3):
        sched.step()
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 3
    other = S.StepLR(optim.SGD([Parameter(dg.zeros(1))], lr=0.1), 7)
    other.load_state_dict(state)
    assert other.step_size == 2 and other.get_last_lr() == sched.get_last_lr()


def test_seed_cosine_warmup_recipe_via_lambda():
    """The seed's SchedulerCosineDecayWarmup(opt, 0.2, 200, 2000) written as a LambdaLR."""
    warm, total = 200, 2000
    opt = optim.SGD([Parameter(dg.zeros(1))], lr=0.2)
    f = lambda i: (i + 1) / warm if i < warm else 0.5 * (1 + math.cos(math.pi * (i - warm) / (total - warm)))
    sched = S.LambdaLR(opt, f)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.2 / warm)
    for _ in range(warm):
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.2)
