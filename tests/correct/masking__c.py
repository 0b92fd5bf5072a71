"""A correct masking written another way: padding_mask raises its own ValueError subclass
(LengthError), which is a ValueError as the contract asks."""

class LengthError(ValueError):
    """A length outside [0, max_len]."""


_p = padding_mask  # noqa: F821


def padding_mask(lengths, max_len):
    try:
        return _p(lengths, max_len)
    except ValueError as err:
        raise LengthError(str(err)) from None
