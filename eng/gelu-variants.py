#!/usr/bin/env python3
"""The GELU forms ONNX Runtime can run, as one-node graphs over a stage-1 activation of IConvNeXt-Tiny at 128 px,
batch 8 ([8, 32*32, 4*96]), for eng/gelu-variants.cs to time side by side (docs/PERFORMANCE.md, session 13):
erf form as exported (ORT fuses it to BiasGelu), BiasGelu, FastGelu (tanh approximation), QuickGelu (x*sigmoid(1.702x)).
    /usr/bin/python3 eng/gelu-variants.py DIR && dotnet run eng/gelu-variants.cs DIR"""
import sys, pathlib
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

out = pathlib.Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
shape = [8, 1024, 384]
bias = numpy_helper.from_array((np.random.default_rng(0).standard_normal(shape[-1]) * 0.1).astype(np.float32), 'b')
consts = [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in [('s2', 2 ** 0.5), ('one', 1.0), ('half', 0.5)]]
x = helper.make_tensor_value_info('x', TensorProto.FLOAT, shape)
y = helper.make_tensor_value_info('y', TensorProto.FLOAT, shape)
forms = {
    'erfgelu': ([helper.make_node('Add', ['x', 'b'], ['xb']), helper.make_node('Div', ['xb', 's2'], ['d']), helper.make_node('Erf', ['d'], ['e']),
                 helper.make_node('Add', ['e', 'one'], ['e1']), helper.make_node('Mul', ['xb', 'e1'], ['m']), helper.make_node('Mul', ['m', 'half'], ['y'])], consts),
    'biasgelu': ([helper.make_node('BiasGelu', ['x', 'b'], ['y'], domain='com.microsoft')], []),
    'fastgelu': ([helper.make_node('FastGelu', ['x', 'b'], ['y'], domain='com.microsoft')], []),
    'quickgelu': ([helper.make_node('Add', ['x', 'b'], ['xb']), helper.make_node('QuickGelu', ['xb'], ['y'], domain='com.microsoft', alpha=1.702)], []),
}
for name, (nodes, extra) in forms.items():
    model = helper.make_model(helper.make_graph(nodes, name, [x], [y], initializer=[bias] + extra),
                              opset_imports=[helper.make_opsetid('', 17), helper.make_opsetid('com.microsoft', 1)])
    model.ir_version = 8
    onnx.save(model, str(out / f'{name}.onnx'))
