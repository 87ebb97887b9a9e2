from typing import Dict

from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """mmseg's ``IoUMetric`` that also returns each class's IoU, precision and recall as
    ``IoU.<class>``, ``Precision.<class>`` and ``Recall.<class>`` (in %).

    mmseg prints the per-class table but returns only the means; returning the per-class values
    puts them in the scalar log and in the dict ``runner.test()`` returns, so that the rare
    classes of a comparison can be read without parsing text. Precision is the share of the
    pixels predicted as the class that are the class, recall (mmseg's per-class ``Acc``) the
    share of the class's pixels predicted as it; NaN where the share has no pixels.
    """

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        if not results:
            return metrics
        # each result: (intersect, union, predicted, labelled) pixels per class
        intersect, union, predicted, labelled = (sum(r[i] for r in results) for i in range(4))
        shares = (('IoU', union), ('Precision', predicted), ('Recall', labelled))
        for key, total in shares:
            values = (intersect / total).tolist()  # NaN for 0 / 0, as mmseg's IoU
            for name, value in zip(self.dataset_meta['classes'], values):
                metrics[f'{key}.{name}'] = round(value * 100, 2)
        return metrics
