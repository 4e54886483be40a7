"""Neural networks: SAROSS-Net (MambaVision or ResNet encoder + nested CAFT decoder) and its parts.

Build models through one factory::

    from engine.models import create_model, build_saross_net
    model = create_model("saross_net_xs", num_classes=2)          # named variant + overrides
    model = build_saross_net(card.build)                           # from a model card's config

``MODEL_VARIANTS`` lists the names; an unknown name raises a KeyError that lists them.
"""

from engine.models.saross_net import (
    MODEL_VARIANTS,
    SarossNet,
    SarossNetConfig,
    build_saross_net,
    create_model,
    model_config,
)

__all__ = ["MODEL_VARIANTS", "SarossNet", "SarossNetConfig", "build_saross_net", "create_model", "model_config"]
