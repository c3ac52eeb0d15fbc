"""team server: accounts, blind rounds, suggestion decisions, joint-display mappings saved from the app

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Only new tables: an existing project's rows are not touched (no copy-and-move of a table, which on SQLite
with foreign keys on could cascade-delete segments; see the 0002 note in tests/qualitative/test_store.py).
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('joint_mapping',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('yaml_text', sa.Text(), nullable=False),
    sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('saved_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('blind_round',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revealed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('coder_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('lead','coder','viewer')", name='account_role'),
    sa.ForeignKeyConstraint(['coder_id'], ['coder.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('round_coder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('coder_id', sa.Integer(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['coder_id'], ['coder.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['blind_round.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('round_id', 'coder_id')
    )
    with op.batch_alter_table('round_coder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_round_coder_round_id'), ['round_id'], unique=False)

    op.create_table('round_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['blind_round.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('round_id', 'document_id')
    )
    with op.batch_alter_table('round_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_round_document_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_round_document_round_id'), ['round_id'], unique=False)

    op.create_table('suggestion_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=False),
    sa.Column('coder_id', sa.Integer(), nullable=True),
    sa.Column('start_offset', sa.Integer(), nullable=False),
    sa.Column('end_offset', sa.Integer(), nullable=False),
    sa.Column('score', sa.Double(), nullable=True),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("decision IN ('accepted','rejected')", name='suggestion_decision_value'),
    sa.CheckConstraint('start_offset >= 0 AND end_offset > start_offset', name='suggestion_span'),
    sa.ForeignKeyConstraint(['code_id'], ['code.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['coder_id'], ['coder.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('suggestion_decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suggestion_decision_code_id'), ['code_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_suggestion_decision_document_id'), ['document_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('suggestion_decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suggestion_decision_document_id'))
        batch_op.drop_index(batch_op.f('ix_suggestion_decision_code_id'))

    op.drop_table('suggestion_decision')
    with op.batch_alter_table('round_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_round_document_round_id'))
        batch_op.drop_index(batch_op.f('ix_round_document_document_id'))

    op.drop_table('round_document')
    with op.batch_alter_table('round_coder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_round_coder_round_id'))

    op.drop_table('round_coder')
    op.drop_table('account')
    op.drop_table('blind_round')
    op.drop_table('joint_mapping')
