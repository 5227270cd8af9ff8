"""Source edits with LibCST: each kind on the constructs people write, everything else byte for byte."""

from __future__ import annotations

import pytest

from fitdoctor.patches.apply import EditError, apply_edits
from fitdoctor.patches.edits import SourceEdit


def drop(line: int, name: str) -> SourceEdit:
    return SourceEdit("drop_activation", "t.py", line, name=name)


def test_the_last_element_of_a_multiline_sequential_goes_with_its_line_and_its_comment() -> None:
    src = (
        "model = nn.Sequential(\n"
        "    nn.Linear(1, 64),  # hidden\n"
        "    nn.ReLU(),\n"
        "    nn.Linear(64, 1),  # out\n"
        "    nn.GELU(),  # the bug\n"
        ")\n"
    )
    assert apply_edits(src, [drop(5, "GELU")]) == (
        "model = nn.Sequential(\n    nn.Linear(1, 64),  # hidden\n    nn.ReLU(),\n    nn.Linear(64, 1),  # out\n)\n"
    )


def test_on_a_one_line_sequential_the_final_activation_is_the_last_of_its_kind() -> None:
    src = "net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1), nn.ReLU())\n"
    assert apply_edits(src, [drop(1, "ReLU")]) == "net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))\n"


def test_an_activation_inside_a_sequential_becomes_identity_so_no_later_index_moves() -> None:
    src = "net = nn.Sequential(nn.Linear(2, 8), nn.Sigmoid(), nn.Linear(8, 1))\n"
    assert (
        apply_edits(src, [drop(1, "Sigmoid")])
        == "net = nn.Sequential(nn.Linear(2, 8), nn.Identity(), nn.Linear(8, 1))\n"
    )


@pytest.mark.parametrize(
    ("line", "name", "fixed"),
    [
        ("        self.act = nn.Sigmoid()\n", "Sigmoid", "        self.act = nn.Identity()\n"),
        ("        self.act = torch.nn.Tanh()\n", "Tanh", "        self.act = torch.nn.Identity()\n"),
        ("        return torch.sigmoid(self.fc(x))  # probs\n", "sigmoid", "        return self.fc(x)  # probs\n"),
        ("        x = F.gelu(self.fc3(x))\n", "gelu", "        x = self.fc3(x)\n"),
        ("        x = F.relu(self.fc2(F.relu(self.fc1(x))))\n", "relu", "        x = self.fc2(F.relu(self.fc1(x)))\n"),
        ("        return self.out(h).sigmoid()\n", "sigmoid", "        return self.out(h)\n"),
        ("        return F.softmax(self.head(h), dim=-1)\n", "softmax", "        return self.head(h)\n"),
    ],
)
def test_modules_functions_and_methods_lose_their_final_activation(line: str, name: str, fixed: str) -> None:
    src = "class M(nn.Module):\n    def f(self, x):\n" + line + "        pass\n"
    assert apply_edits(src, [drop(3, name)]) == "class M(nn.Module):\n    def f(self, x):\n" + fixed + "        pass\n"


@pytest.mark.parametrize(
    ("call", "fixed"),
    [
        ("SGD(model.parameters(), lr=10.0)", "SGD(model.parameters(), lr=0.1)"),
        ("SGD(model.parameters(), 10.0, momentum=0.9)", "SGD(model.parameters(), 0.1, momentum=0.9)"),
        ("SGD(model.parameters())", "SGD(model.parameters(), lr=0.1)"),
        ("SGD(params=model.parameters(), lr=LR)", "SGD(params=model.parameters(), lr=0.1)"),
    ],
)
def test_a_learning_rate_is_set_where_the_call_passes_it(call: str, fixed: str) -> None:
    edit = SourceEdit("set_argument", "t.py", 1, name="SGD", keyword="lr", value="0.1", position=1)
    assert apply_edits(f"opt = torch.optim.{call}\n", [edit]) == f"opt = torch.optim.{fixed}\n"


def test_a_call_over_several_lines_is_found_from_any_of_them_and_keeps_its_layout() -> None:
    src = "opt = torch.optim.Adam(\n    model.parameters(),\n    lr=1e-2,  # tuned\n)\n"
    edit = SourceEdit("set_argument", "t.py", 3, name="Adam", keyword="lr", value="1e-3", position=1)
    assert apply_edits(src, [edit]) == "opt = torch.optim.Adam(\n    model.parameters(),\n    lr=1e-3,  # tuned\n)\n"


def test_a_keyword_is_added_to_a_layer_that_lacks_it_and_the_comment_stays() -> None:
    src = "gru = nn.GRU(1, 32)  # (time, batch, feature)\n"
    edit = SourceEdit("set_argument", "t.py", 1, name="GRU", keyword="batch_first", value="True")
    assert apply_edits(src, [edit]) == "gru = nn.GRU(1, 32, batch_first=True)  # (time, batch, feature)\n"


@pytest.mark.parametrize(
    ("imports", "wrapper"),
    [("from torch import nn\n", "nn.ModuleList"), ("import torch\n", "torch.nn.ModuleList")],
)
def test_a_plain_list_of_layers_is_wrapped_with_what_the_file_imports(imports: str, wrapper: str) -> None:
    src = imports + "class M:\n    def __init__(self):\n        self.blocks = [Block() for _ in range(3)]\n"
    out = apply_edits(src, [SourceEdit("wrap_value", "t.py", 4, value="nn.ModuleList")])
    assert out == src.replace("[Block() for _ in range(3)]", f"{wrapper}([Block() for _ in range(3)])")


def test_a_statement_is_inserted_once_before_the_line_at_its_indentation() -> None:
    src = "for x, y in loader:\n    loss = crit(model(x), y)\n    loss.backward()\n    opt.step()\n"
    edit = SourceEdit("insert_before", "t.py", 2, value="opt.zero_grad()")
    once = apply_edits(src, [edit])
    assert (
        once
        == "for x, y in loader:\n    opt.zero_grad()\n    loss = crit(model(x), y)\n    loss.backward()\n    opt.step()\n"
    )
    moved = SourceEdit("insert_before", "t.py", 3, value="opt.zero_grad()")
    assert apply_edits(once, [moved]) == once  # already there: not twice


def test_edits_apply_from_the_last_line_up_so_earlier_lines_dont_move() -> None:
    src = "a = nn.Sequential(\n    nn.Linear(1, 1),\n    nn.Tanh(),\n)\nopt = SGD(a.parameters(), lr=1.0)\nloss = f()\n"
    edits = [
        drop(3, "Tanh"),
        SourceEdit("set_argument", "t.py", 5, name="SGD", keyword="lr", value="0.1", position=1),
        SourceEdit("insert_before", "t.py", 6, value="opt.zero_grad()"),
    ]
    assert apply_edits(src, edits) == (
        "a = nn.Sequential(\n    nn.Linear(1, 1),\n)\nopt = SGD(a.parameters(), lr=0.1)\nopt.zero_grad()\nloss = f()\n"
    )


def test_windows_line_endings_stay() -> None:
    src = "x = F.gelu(fc(x))\r\ny = 1\r\n"
    assert apply_edits(src, [drop(1, "gelu")]) == "x = fc(x)\r\ny = 1\r\n"


def test_an_edit_whose_construct_is_not_on_its_line_is_refused() -> None:
    with pytest.raises(EditError, match="no GELU"):
        apply_edits("x = F.relu(x)\n", [drop(1, "GELU")])
    with pytest.raises(EditError, match="can't parse"):
        apply_edits("def (:\n", [drop(1, "GELU")])


# ------------------------------------------------------------------------ edits that name something off their line
@pytest.mark.parametrize(
    ("loss", "fixed"),
    [
        ("    loss = loss_fn(pred, y)\n", "    loss = loss_fn(pred, y.reshape_as(pred))\n"),
        ("    loss = ((pred - y) ** 2).mean()\n", "    loss = ((pred - y.reshape_as(pred)) ** 2).mean()\n"),
        ("    loss = ((y[idx] - pred) ** 2).mean()\n", "    loss = ((y[idx].reshape_as(pred) - pred) ** 2).mean()\n"),
        ("    loss = F.mse_loss(pred, a + b)\n", "    loss = F.mse_loss(pred, (a + b).reshape_as(pred))\n"),
    ],
)
def test_the_target_paired_with_the_prediction_is_reshaped_where_the_loss_is_computed(loss: str, fixed: str) -> None:
    src = "for step in range(9):\n    pred = model(x)\n" + loss
    edit = SourceEdit("wrap_partner", "t.py", 3, name="pred", value="{}.reshape_as(pred)")
    assert apply_edits(src, [edit]) == "for step in range(9):\n    pred = model(x)\n" + fixed


def test_a_loss_without_the_prediction_on_its_line_is_refused() -> None:
    edit = SourceEdit("wrap_partner", "t.py", 1, name="pred", value="{}.reshape_as(pred)")
    with pytest.raises(EditError):
        apply_edits("loss = loss_fn(model(x), y)\n", [edit])


def test_a_loss_module_is_replaced_where_it_is_built_and_a_functional_loss_where_it_is_called() -> None:
    src = (
        "crit = nn.NLLLoss(weight=w)\nfor b in data:\n    loss = crit(model(b.x), b.y)\n    other = F.nll_loss(o, t)\n"
    )
    module = SourceEdit("replace_loss", "t.py", 3, name="nll_loss", value="cross_entropy")
    functional = SourceEdit("replace_loss", "t.py", 4, name="nll_loss", value="cross_entropy")
    assert apply_edits(src, [module, functional]) == (
        "crit = nn.CrossEntropyLoss(weight=w)\nfor b in data:\n    loss = crit(model(b.x), b.y)\n"
        "    other = F.cross_entropy(o, t)\n"
    )


def test_a_loss_name_bound_twice_is_refused() -> None:
    src = "crit = nn.NLLLoss()\ncrit = nn.NLLLoss(reduction='sum')\nloss = crit(out, y)\n"
    with pytest.raises(EditError, match="more than one"):
        apply_edits(src, [SourceEdit("replace_loss", "t.py", 3, name="nll_loss", value="cross_entropy")])


STANDARDIZE = "{0} = ({0} - {0}.mean(dim=0)) / {0}.std(dim=0)"


@pytest.mark.parametrize(
    ("src", "line", "fixed"),
    [
        # module level: after the last assignment before the loop, whatever the loop slices
        (
            "x = load()\nx = x * 2\nn = 3\nfor i in range(n):\n    out = model(x[idx])\n",
            5,
            "x = load()\nx = x * 2\nx = (x - x.mean(dim=0)) / x.std(dim=0)\nn = 3\nfor i in range(n):\n"
            "    out = model(x[idx])\n",
        ),
        # a tuple assignment, inside a function
        (
            "def main():\n    X, y = make()\n    for i in range(3):\n        loss = crit(model(X), y)\n",
            4,
            "def main():\n    X, y = make()\n    X = (X - X.mean(dim=0)) / X.std(dim=0)\n    for i in range(3):\n"
            "        loss = crit(model(X), y)\n",
        ),
    ],
)
def test_inputs_are_standardised_where_the_script_builds_them(src: str, line: int, fixed: str) -> None:
    edit = SourceEdit("insert_after_binding", "t.py", line, name="model", value=STANDARDIZE, position=0)
    assert apply_edits(src, [edit]) == fixed


@pytest.mark.parametrize(
    "src",
    [
        "for xb, yb in loader:\n    out = model(xb)\n",  # a loop variable: per-batch statistics would be wrong
        "x = load()\nout = model(x.float())\n",  # not a variable
        "def f():\n    return model(x)\nx = load()\n",  # bound in another scope
    ],
)
def test_inputs_the_script_does_not_build_as_a_variable_in_the_same_scope_are_refused(src: str) -> None:
    line = next(i for i, text in enumerate(src.splitlines(), 1) if "model(" in text)
    with pytest.raises(EditError):
        apply_edits(src, [SourceEdit("insert_after_binding", "t.py", line, name="model", value=STANDARDIZE)])


def test_edits_of_one_patch_all_use_the_original_line_numbers() -> None:
    # an insertion above the optimizer and the optimizer's own rate, and a standardisation far above both
    src = "x = load()\nmodel = Net()\nopt = torch.optim.SGD(model.parameters(), lr=1)\nfor i in range(3):\n    p = model(x)\n"
    edits = [
        SourceEdit("insert_before", "t.py", 3, value="for m in model.modules():\n    nn.init.zeros_(m.bias)"),
        SourceEdit("set_argument", "t.py", 3, name="SGD", keyword="lr", value="0.1", position=1),
        SourceEdit("insert_after_binding", "t.py", 5, name="model", value=STANDARDIZE, position=0),
    ]
    assert apply_edits(src, edits) == (
        "x = load()\nx = (x - x.mean(dim=0)) / x.std(dim=0)\nmodel = Net()\n"
        "for m in model.modules():\n    torch.nn.init.zeros_(m.bias)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\nfor i in range(3):\n    p = model(x)\n"
    )


@pytest.mark.parametrize(
    ("src", "fixed"),
    [
        (
            "args = TrainingArguments(\n    output_dir='o',\n    learning_rate=1e-6,\n)\n",
            "args = TrainingArguments(\n    output_dir='o',\n    learning_rate=3e-3,\n)\n",
        ),
        (
            "args = TrainingArguments(output_dir='o')\n",
            "args = TrainingArguments(output_dir='o', learning_rate=3e-3)\n",
        ),
    ],
)
def test_an_argument_of_the_one_call_of_the_file_is_set_wherever_it_is(src: str, fixed: str) -> None:
    edit = SourceEdit("set_argument_anywhere", "t.py", 1, "TrainingArguments", "learning_rate", "3e-3")
    assert apply_edits(src + "trainer.train()\n", [edit]) == fixed + "trainer.train()\n"
    with pytest.raises(EditError, match="more than one"):
        apply_edits(src + src, [edit])


def scale(line: int, prediction: str = "", dims: str = "dim=0") -> SourceEdit:
    from fitdoctor.fixes.builders import _TARGET_SCALING

    value = _TARGET_SCALING.replace("{dims}", dims)
    return SourceEdit("insert_after_target", "t.py", line, name="model", keyword=prediction, value=value)


_HOOK = (
    '{i}model.register_buffer("target_mean", {t}.mean(dim=0))\n'
    '{i}model.register_buffer("target_std", {t}.std(dim=0))\n'
    "{gap}"
    "{i}def output_in_target_units(module, args, output):\n"
    "{i}    return output * module.target_std + module.target_mean\n"
    "{gap}"
    "{i}model.register_forward_hook(output_in_target_units)\n"
)


def hook(target: str, indent: str = "", gap: str = "") -> str:
    comment = "".join(f"{indent}{line}\n" for line in _TARGET_COMMENT)
    return comment + _HOOK.replace("{i}", indent).replace("{t}", target).replace("{gap}", gap)


_TARGET_COMMENT = [
    "# fitdoctor FD102: the network learns the targets standardised, (y - mean) / std; this hook maps its output",
    "# back to the targets' units, so the loss and every prediction keep their units (mean and std are buffers)",
]


@pytest.mark.parametrize(
    ("loss", "prediction", "target"),
    [
        ("    loss = loss_fn(model(x[idx]), targets[idx])\n", "", "targets"),
        ("    loss = F.mse_loss(targets, model(x))\n", "", "targets"),
        ("    loss = ((out - targets[idx]) ** 2).mean()\n", "out", "targets"),
        ("    loss = criterion(out, targets)\n", "out", "targets"),
    ],
)
def test_the_target_scaling_hook_goes_after_the_later_of_the_model_and_the_target(
    loss: str, prediction: str, target: str
) -> None:
    head = "x = torch.randn(8, 2)\ntargets = x.sum(1, keepdim=True) * 1e5\nmodel = nn.Linear(2, 1)\n"
    src = head + "for idx in range(3):\n    out = model(x)\n" + loss
    fixed = apply_edits(src, [scale(6, prediction)])
    assert fixed == head + hook(target, gap="\n\n") + "for idx in range(3):\n    out = model(x)\n" + loss


def test_in_a_function_the_hook_goes_in_its_body_after_a_target_built_after_the_model() -> None:
    src = (
        "def main():\n"
        "    model = nn.Linear(2, 1)\n"
        "    y = load() * 1e5\n"
        "    for xb in batches:\n"
        "        loss = loss_fn(model(xb), y)\n"
    )
    fixed = apply_edits(src, [scale(5)])
    assert fixed == (
        "def main():\n    model = nn.Linear(2, 1)\n    y = load() * 1e5\n"
        + hook("y", indent="    ")
        + "    for xb in batches:\n        loss = loss_fn(model(xb), y)\n"
    )


@pytest.mark.parametrize(
    "src",
    [
        # the target comes from a DataLoader: no tensor to take the statistics of
        "model = nn.Linear(2, 1)\nfor xb, yb in loader:\n    loss = loss_fn(model(xb), yb)\n",
        # an expression, not a variable
        "model = nn.Linear(2, 1)\ny = f()\nloss = loss_fn(model(x), y.float() * 2)\n",
        # the model is built in another scope
        "def build():\n    model = nn.Linear(2, 1)\ny = f()\nloss = loss_fn(model(x), y)\n",
    ],
)
def test_targets_and_models_the_script_does_not_bind_in_the_loss_scope_are_refused(src: str) -> None:
    line = src.count("\n")
    with pytest.raises(EditError):
        apply_edits(src, [scale(line)])


@pytest.mark.parametrize(
    ("call", "fixed"),
    [
        (
            "optimizer = torch.optim.Adam(model.head.parameters(), lr=1e-3)\n",
            "optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)\n",
        ),
        (
            "opt = optim.SGD(params=[p for p in model.parameters() if p.ndim > 1], lr=0.1)\n",
            "opt = optim.SGD(params=model.parameters(), lr=0.1)\n",
        ),
    ],
)
def test_the_optimizer_is_given_the_models_parameters_where_it_is_built(call: str, fixed: str) -> None:
    name = "Adam" if "Adam" in call else "SGD"
    edit = SourceEdit("set_argument", "t.py", 1, name=name, keyword="params", value="model.parameters()", position=0)
    assert apply_edits(call, [edit]) == fixed


def test_a_value_assigned_on_its_own_line_is_set_and_its_comment_stays() -> None:
    src = "learning_rate = 1e-6  # the tutorial's\nfor t in range(3):\n    w -= learning_rate * w.grad\n"
    edit = SourceEdit("set_value", "t.py", 1, value="2e-3")
    assert apply_edits(src, [edit]) == src.replace("1e-6", "2e-3", 1)


def test_the_learning_rate_line_is_found_in_code_not_in_a_docstring_or_a_comment() -> None:
    from fitdoctor.capture.programs import _first_rate_assignment

    src = '"""Uses\nlearning_rate = 1e-6 as the tutorial does."""\n# lr = 3\nimport torch\n\nlearning_rate = 1e-6\n'
    assert _first_rate_assignment(src.splitlines(keepends=True)) == 6
    args = "args = TrainingArguments(output_dir='out', learning_rate=5e-5)\n"
    assert _first_rate_assignment(["import x\n", args]) == 2
    assert _first_rate_assignment(["if lr == 3:\n", "    pass\n"]) is None


def rate(line: int, name: str = "SGD", value: str = "1e-3") -> SourceEdit:
    return SourceEdit("set_rate", "t.py", line, name=name, keyword="lr", value=value, position=1)


@pytest.mark.parametrize(
    ("src", "line", "fixed"),
    [
        # a number: set where the optimizer is built
        ("opt = optim.SGD(model.parameters(), lr=0.5)\n", 1, "opt = optim.SGD(model.parameters(), lr=1e-3)\n"),
        ("opt = optim.SGD(model.parameters(), 0.5)\n", 1, "opt = optim.SGD(model.parameters(), 1e-3)\n"),
        # a module-level variable
        (
            "LR = 0.5  # tuned\nopt = optim.SGD(m.parameters(), lr=LR)\n",
            2,
            "LR = 1e-3  # tuned\nopt = optim.SGD(m.parameters(), lr=LR)\n",
        ),
        # a function parameter's default
        (
            "def train(model, lr=0.5):\n    opt = optim.SGD(model.parameters(), lr=lr)\n",
            2,
            "def train(model, lr=1e-3):\n    opt = optim.SGD(model.parameters(), lr=lr)\n",
        ),
        # an argparse option's default, by its flag
        (
            'p.add_argument("--learning-rate", type=float, default=0.5)\nargs = p.parse_args()\n'
            "opt = optim.SGD(m.parameters(), lr=args.learning_rate)\n",
            3,
            'p.add_argument("--learning-rate", type=float, default=1e-3)\nargs = p.parse_args()\n'
            "opt = optim.SGD(m.parameters(), lr=args.learning_rate)\n",
        ),
        # a configuration dataclass's field
        (
            "@dataclass\nclass Config:\n    lr: float = 0.5\ncfg = Config()\nopt = optim.SGD(m.parameters(), lr=cfg.lr)\n",
            5,
            "@dataclass\nclass Config:\n    lr: float = 1e-3\ncfg = Config()\nopt = optim.SGD(m.parameters(), lr=cfg.lr)\n",
        ),
    ],
)
def test_a_learning_rate_is_changed_where_the_number_it_comes_from_is_written(src: str, line: int, fixed: str) -> None:
    assert apply_edits(src, [rate(line)]) == fixed


@pytest.mark.parametrize(
    "src",
    [
        # the parameter has no number to change (the caller passes it)
        "LR = 0.5\ndef train(model, lr):\n    opt = optim.SGD(model.parameters(), lr=lr)\n",
        # a local binding shadows the module's number
        "LR = 0.5\ndef train(model):\n    LR = load()\n    opt = optim.SGD(model.parameters(), lr=LR)\n",
        # an expression
        "opt = optim.SGD(m.parameters(), lr=base * 2)\n",
        # an option without a default
        'p.add_argument("--lr", type=float, required=True)\nopt = optim.SGD(m.parameters(), lr=args.lr)\n',
    ],
)
def test_a_learning_rate_not_traced_to_one_number_is_refused(src: str) -> None:
    with pytest.raises(EditError):
        apply_edits(src, [rate(src.count("\n"))])


def test_an_optimizer_built_before_a_layer_is_replaced_moves_after_it() -> None:
    src = (
        "model = Net()\n"
        "optimizer = torch.optim.Adam(model.head.parameters(), lr=1e-2)\n"
        "model.head = nn.Linear(64, 2)  # task B\n"
        "for step in range(3):\n"
        "    optimizer.step()\n"
    )
    params = SourceEdit(
        "set_argument", "t.py", 2, name="Adam", keyword="params", value="model.parameters()", position=0
    )
    move = SourceEdit("after_model_changes", "t.py", 2, name="model")
    assert apply_edits(src, [params, move]) == (
        "model = Net()\n"
        "model.head = nn.Linear(64, 2)  # task B\n"
        "optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)\n"
        "for step in range(3):\n"
        "    optimizer.step()\n"
    )
    # no change of the model after it (or only after the optimizer is used): it stays where it is
    kept = src.replace("model.head = nn.Linear(64, 2)  # task B\nfor step in range(3):\n", "for step in range(3):\n")
    assert apply_edits(kept, [move]) == kept
    used = "opt = torch.optim.Adam(model.head.parameters())\nopt.zero_grad()\nmodel.head = nn.Linear(64, 2)\n"
    assert apply_edits(used, [SourceEdit("after_model_changes", "t.py", 1, name="model")]) == used
