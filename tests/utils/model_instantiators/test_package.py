"""The instantiator package: skrl 1.x import path, lazy torch import, no exec anywhere."""

import ast
import pathlib
import subprocess
import sys

import pytest

import mixrl.utils.model_instantiators as instantiators

PACKAGE = pathlib.Path(instantiators.__file__).parent


class TestPackage:
    def test_skrl_import_path_is_lazy_about_torch(self):
        """Importing the skrl 1.x import path and Shape loads no torch; the first function access does."""
        code = (
            "import sys; import mixrl.utils.model_instantiators as m; "
            "from mixrl.utils.model_instantiators import Shape; "
            "print('torch' in sys.modules); m.gaussian_model; print('torch' in sys.modules)"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        assert out == ["False", "True"]

    def test_unknown_attribute_is_an_attribute_error(self):
        """Only the listed names are forwarded."""
        with pytest.raises(AttributeError, match="no_such"):
            instantiators.no_such  # noqa: B018

    def test_no_exec_eval_or_compile_anywhere_in_the_package(self):
        """W#2: the instantiator sources never call exec, eval or compile."""
        for path in PACKAGE.rglob("*.py"):
            calls = {
                node.func.id
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            }
            assert not calls & {"exec", "eval", "compile", "__import__"}, path

    def test_framework_free_modules_import_without_torch(self):
        """Every top-level module (shared with the JAX twin) imports with torch blocked."""
        modules = sorted(path.stem for path in PACKAGE.glob("_*.py") if path.stem != "__init__")
        code = "import sys; sys.modules['torch'] = None\n" + "".join(
            f"import mixrl.utils.model_instantiators.{name}\n" for name in modules
        )
        assert len(modules) >= 9
        subprocess.run([sys.executable, "-c", code], check=True)
