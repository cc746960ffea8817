"""Configuration: typed schema (``schema``) and YAML loading with overrides (``loader``)."""
from hpcgan.config.loader import (
    ConfigError,
    config_hash,
    dump_config,
    load_config,
    parse_override,
    save_config,
    to_dict,
)
from hpcgan.config.schema import (
    BANDS,
    Config,
    DataCfg,
    DistCfg,
    KernelsCfg,
    ModelCfg,
    PreprocessCfg,
    SimulateCfg,
    SurveyCfg,
    TrainCfg,
)

__all__ = ["BANDS", "Config", "ConfigError", "DataCfg", "DistCfg", "KernelsCfg", "ModelCfg", "PreprocessCfg",
           "SimulateCfg", "SurveyCfg", "TrainCfg", "config_hash", "dump_config", "load_config", "parse_override",
           "save_config", "to_dict"]
