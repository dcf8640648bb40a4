"""GLUE metric for every task, as a project-local `evaluate` module (loaded by path, no hub).

    evaluate.load("agent/trial/metrics/glue.py", "mrpc").compute(predictions=[...], references=[...])

Same definitions as the official GLUE metric: CoLA Matthews correlation, STS-B Pearson and
Spearman, MRPC/QQP accuracy and F1, accuracy elsewhere. Which task gets which is the task table's.
"""

import datasets
import evaluate
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

from agent.trial.tasks import TASKS

_DESCRIPTION = "GLUE metrics (accuracy, F1, Matthews, Pearson/Spearman) per task."
_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted labels (class ids; floats for stsb)
    references: gold labels (class ids; floats for stsb)
Returns: a dict of the task's metrics, e.g. {"accuracy": 0.8, "f1": 0.85} for mrpc.
"""


class Glue(evaluate.Metric):
    def _info(self):
        if self.config_name not in TASKS:
            raise KeyError(f"unknown GLUE task {self.config_name!r}; choose one of: {', '.join(TASKS)}")
        kind = "float32" if TASKS[self.config_name].num_labels == 1 else "int64"
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Wang et al. 2019, GLUE",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value(kind), "references": datasets.Value(kind)}),
            format="numpy",
        )

    def _compute(self, predictions, references):
        metric = TASKS[self.config_name].metric
        if metric == "matthews":
            return {"matthews_correlation": float(matthews_corrcoef(references, predictions))}
        if metric == "pearson_spearman":
            return {
                "pearson": float(pearsonr(predictions, references)[0]),
                "spearmanr": float(spearmanr(predictions, references)[0]),
            }
        acc = float((predictions == references).mean())
        if metric == "accuracy_f1":
            return {"accuracy": acc, "f1": float(f1_score(y_true=references, y_pred=predictions))}
        return {"accuracy": acc}
