from .pseudo_labels import (
    PanelRow,
    draw_pseudo_label_panel,
    pseudo_label_rows,
    teacher_pseudo_labels,
)

__all__ = ['PanelRow', 'draw_pseudo_label_panel', 'pseudo_label_rows', 'teacher_pseudo_labels']
