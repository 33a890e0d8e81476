"""spacy-kd-ner: distil transformer NER teachers into compact LSTM-CNN-CRF
students, inside spaCy.

Importing the package registers its functions with spaCy's and thinc's
registries and changes nothing else. Every kd_ner component calls
``install_extensions``, which installs the ``doc._.kd_teacher`` extension and
the at-fork hook once per process; the teacher-scores functions install the
extension themselves.
"""

from .loss import DistillationLoss, configure_distillation_loss_v1
from .models.crf_layer import build_crf_layer_v1
from .models.lstm_cnn import build_lstm_cnn_encoder_v1
from .models.tagger import build_entity_tagger_v1
from .pipeline import EntityTaggerPipe, install_extensions, make_kd_ner
from .precision import set_precision, with_precision_v1
from .scores import TeacherScoresError, get_teacher_scores, set_teacher_scores

__all__ = [
    "DistillationLoss",
    "EntityTaggerPipe",
    "TeacherScoresError",
    "build_crf_layer_v1",
    "build_entity_tagger_v1",
    "build_lstm_cnn_encoder_v1",
    "configure_distillation_loss_v1",
    "get_teacher_scores",
    "install_extensions",
    "make_kd_ner",
    "set_precision",
    "set_teacher_scores",
    "with_precision_v1",
]
