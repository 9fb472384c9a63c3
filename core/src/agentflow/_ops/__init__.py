"""Operations: health checks of providers and live reload of the configuration file."""
