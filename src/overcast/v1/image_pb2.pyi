import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImageStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_STATUS_UNSPECIFIED: _ClassVar[ImageStatus]
    IMAGE_STATUS_QUEUED: _ClassVar[ImageStatus]
    IMAGE_STATUS_SAVING: _ClassVar[ImageStatus]
    IMAGE_STATUS_ACTIVE: _ClassVar[ImageStatus]
    IMAGE_STATUS_DELETED: _ClassVar[ImageStatus]
IMAGE_STATUS_UNSPECIFIED: ImageStatus
IMAGE_STATUS_QUEUED: ImageStatus
IMAGE_STATUS_SAVING: ImageStatus
IMAGE_STATUS_ACTIVE: ImageStatus
IMAGE_STATUS_DELETED: ImageStatus

class Image(_message.Message):
    __slots__ = ("name", "disk_format", "min_disk_gib", "min_memory_mib", "status", "size_bytes", "checksum_sha256", "properties", "create_time", "etag", "kernel_image", "ramdisk_image", "kernel_args", "virtual_size_bytes")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISK_FORMAT_FIELD_NUMBER: _ClassVar[int]
    MIN_DISK_GIB_FIELD_NUMBER: _ClassVar[int]
    MIN_MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_SHA256_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    KERNEL_IMAGE_FIELD_NUMBER: _ClassVar[int]
    RAMDISK_IMAGE_FIELD_NUMBER: _ClassVar[int]
    KERNEL_ARGS_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    disk_format: str
    min_disk_gib: int
    min_memory_mib: int
    status: ImageStatus
    size_bytes: int
    checksum_sha256: str
    properties: _containers.ScalarMap[str, str]
    create_time: _timestamp_pb2.Timestamp
    etag: str
    kernel_image: str
    ramdisk_image: str
    kernel_args: str
    virtual_size_bytes: int
    def __init__(self, name: _Optional[str] = ..., disk_format: _Optional[str] = ..., min_disk_gib: _Optional[int] = ..., min_memory_mib: _Optional[int] = ..., status: _Optional[_Union[ImageStatus, str]] = ..., size_bytes: _Optional[int] = ..., checksum_sha256: _Optional[str] = ..., properties: _Optional[_Mapping[str, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., kernel_image: _Optional[str] = ..., ramdisk_image: _Optional[str] = ..., kernel_args: _Optional[str] = ..., virtual_size_bytes: _Optional[int] = ...) -> None: ...

class CreateImageRequest(_message.Message):
    __slots__ = ("image", "image_id", "request_id")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    image: Image
    image_id: str
    request_id: str
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., image_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListImagesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListImagesResponse(_message.Message):
    __slots__ = ("images", "next_page_token")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[Image]
    next_page_token: str
    def __init__(self, images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetImageRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteImageRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class UploadImageDataRequest(_message.Message):
    __slots__ = ("name", "size_bytes", "checksum_sha256", "chunk")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_SHA256_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    name: str
    size_bytes: int
    checksum_sha256: str
    chunk: bytes
    def __init__(self, name: _Optional[str] = ..., size_bytes: _Optional[int] = ..., checksum_sha256: _Optional[str] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class DownloadImageDataRequest(_message.Message):
    __slots__ = ("name", "offset")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    name: str
    offset: int
    def __init__(self, name: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class ImageDataChunk(_message.Message):
    __slots__ = ("data", "offset", "size_bytes")
    DATA_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    offset: int
    size_bytes: int
    def __init__(self, data: _Optional[bytes] = ..., offset: _Optional[int] = ..., size_bytes: _Optional[int] = ...) -> None: ...
