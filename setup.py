from setuptools import find_packages, setup

setup(
    name="tiezoo",
    version="0.1.0",
    description="Tie-aware model zoo for Apache MXNet: pretrain with tied heads, finetune head-less.",
    packages=find_packages(include=["zoo", "zoo.*", "heads", "heads.*", "checkpoints",
                                    "checkpoints.*"]),
    # the native operators' source, compiled on first use into a per-user cache
    # (zoo/_native.py), never into the installed package
    package_data={"zoo": ["native/*.cc", "native/*.h"]},
    python_requires=">=3.9",
    install_requires=[
        "mxnet==1.9.1",
        "numpy>=1.21,<1.24",
        "gluonnlp==0.10.0",
        "sentencepiece",
        "safetensors>=0.4",
        "tqdm",
        "matplotlib",
    ],
    extras_require={
        # numerical and metric oracles of the test suite (requirements-test.txt)
        "test": ["pytest", "pytest-timeout", "torch==2.13.0", "transformers", "tokenizers",
                 "protobuf", "scikit-learn", "seqeval", "rouge-score", "sacrebleu"],
    },
    entry_points={"console_scripts": ["zoo=zoo.cli:main"]},
)
