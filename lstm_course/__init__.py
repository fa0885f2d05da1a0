"""Helper package of the LSTM course, in two wings.

Learners' wing (what the course teaches, one reference implementation of each thing):

* ``scratch/``   NumPy from first principles: the RNN, the LSTM cell and sequence, BPTT
* ``modules/``   PyTorch modules: the course LSTM (cell -> layer -> stack), the fused kernel,
  padded batches, the variants and their parameter counts, the small models chapters train
* ``tasks/``     whole experiments a chapter runs (tagging, character LM, ablation...)
* ``data/``      every data generator and shipped text, nothing downloaded
* ``teach/``     checks that name the mistake, claims bound to measurements, plots, diagrams
* ``train.py``, ``seed.py``, ``vocab.py``   small shared utilities

Instructors' wing: ``instructor/`` (the ``lstm-course`` command line, release, grading,
performance measurement), the only part that imports nbgrader.

Which chapter uses which module (``tests/test_layout.py`` checks this table against the
imports of every notebook in ``solutions/``):

CHAPTER_MODULES
ch01_rnn          scratch.rnn, tasks.gap_recall, teach.checks, teach.claims, teach.diagram, teach.plots,
                  teach.rnn_mistakes, train
ch02_forget_gate  scratch.lstm, teach.checks, teach.claims, teach.diagram
ch03_input_gate   data.india, scratch.lstm, teach.checks, teach.claims, teach.diagram
ch04_output_gate  data.india, scratch.lstm, teach.checks, teach.claims, teach.diagram
ch05_bptt         data.recall, scratch.bptt, scratch.fit, scratch.lstm, scratch.rnn, teach.checks,
                  teach.claims, teach.diagram, teach.plots, train
ch06_pytorch      modules.lstm, modules.padded, scratch.lstm, teach.checks, teach.claims, teach.timing
ch07_tagging      data.tagging, tasks.tagging, teach.checks, teach.claims, teach.plots, train, vocab
ch08_long_range   data.adding, data.languages, modules.models, teach.checks, teach.claims, teach.plots,
                  train
ch09_char_lm      data.text, tasks.charlm, tasks.probe, teach.checks, teach.claims, teach.plots, vocab
ch10_variants     data.store_recall, data.tagging, modules.lstm, modules.param_count, modules.variants,
                  tasks.ablation, tasks.tagging, teach.checks, teach.claims, teach.variant_checks, train
ch11_forecasting  data.series, tasks.forecasting, teach.checks, teach.claims
ch12_seq2seq      data.digits, tasks.seq2seq, teach.checks, teach.claims, teach.plots
END

Heavy modules (PyTorch) are imported lazily, so ``lstm-course release`` starts fast.
"""

from lstm_course.seed import default_device, seed_everything

__all__ = ["LSTM", "default_device", "seed_everything"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "LSTM":
        from lstm_course.modules.lstm import LSTM

        return LSTM
    raise AttributeError(f"module 'lstm_course' has no attribute {name!r}")
