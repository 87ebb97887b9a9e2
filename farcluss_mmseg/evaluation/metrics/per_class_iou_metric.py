from typing import Dict

from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """mmseg's ``IoUMetric`` that also returns each class's IoU as ``IoU.<class>``.

    mmseg prints the per-class table but returns only the means; returning the per-class values
    puts them in the scalar log and in the dict ``runner.test()`` returns, so that the rare
    classes of a comparison can be read without parsing text.
    """

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        if not results:
            return metrics
        intersect = sum(r[0] for r in results)
        union = sum(r[1] for r in results)
        iou = (intersect / union).tolist()  # NaN for a class absent from both, as mmseg does
        for name, value in zip(self.dataset_meta['classes'], iou):
            metrics[f'IoU.{name}'] = round(value * 100, 2)
        return metrics
